#!/usr/bin/env python3
"""Makes a small prompt/completion SFT set from the TinyStories sample: each story's first sentence is the prompt
and the rest of the story the completion (TRL's {"prompt", "completion"} format).

    /usr/bin/python3 tools/data/tinystories_sft.py [--sample ../shared/data/text/tinystories-valid-sample.txt]
        [--out runs/data] [--train 400] [--eval 100]

Writes OUT/sft-train.jsonl and OUT/sft-eval.jsonl (disjoint stories). Standard library only.
"""
import argparse
import json
import os
import re


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", default=os.path.join(os.path.dirname(root), "shared", "data", "text",
                                                    "tinystories-valid-sample.txt"))
    p.add_argument("--out", default=os.path.join(root, "runs", "data"))
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--eval", type=int, default=100)
    a = p.parse_args()
    with open(a.sample, encoding="utf-8") as f:
        stories = [s.strip() for s in f.read().split("\n\n") if s.strip()]
    pairs = []
    for story in stories:
        m = re.match(r"(.+?[.!?])\s+(.+)", story, re.S)
        if m and len(m.group(2)) > 20:
            pairs.append({"prompt": m.group(1), "completion": " " + m.group(2)})
    if len(pairs) < a.train + a.eval:
        raise SystemExit(f"only {len(pairs)} usable stories in {a.sample}")
    os.makedirs(a.out, exist_ok=True)
    for name, part in (("sft-train.jsonl", pairs[:a.train]), ("sft-eval.jsonl", pairs[a.train:a.train + a.eval])):
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print("wrote", os.path.join(a.out, name), len(part), "records")


if __name__ == "__main__":
    main()
