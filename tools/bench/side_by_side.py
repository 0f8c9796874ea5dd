#!/usr/bin/env python3
"""Runs `./rlhf4j bench` and the PyTorch peer with the same flags, one measurement per process, alternating,
and prints a Markdown table with throughputs, their ratio and each process's peak resident memory.

    /usr/bin/python3 tools/bench/side_by_side.py [--peer PATH] [--rounds N] -- --vocab 512 --dim 64 ...

Peak memory is GNU time's maximum resident set size (Debian package `time`), measured the same way for both.
Only the standard library is used; the peer needs Debian's python3-torch.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PEER = os.path.join(os.path.dirname(ROOT), "shared", "bench", "torch_peer.py")


KEYS = {"train": "tokens_per_s", "decode": "new_tokens_per_s", "gemm": "gflops", "dpo": "pairs_per_s"}


def run_measured(cmd):
    """Runs cmd under GNU time; returns (its JSON lines, its peak resident memory in MB)."""
    timed = ["/usr/bin/time", "-f", "RLHF4J_MAXRSS_KB=%M"] + cmd
    proc = subprocess.run(timed, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    rss = [l for l in proc.stderr.splitlines() if l.startswith("RLHF4J_MAXRSS_KB=")]
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    return lines, int(rss[-1].split("=")[1]) / 1024.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer", default=DEFAULT_PEER, help="path of torch_peer.py")
    p.add_argument("--python", default="/usr/bin/python3", help="python with torch for the peer")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds; the best of each side is kept")
    p.add_argument("--what", default="train,decode,gemm", help="comma-separated measurements")
    p.add_argument("flags", nargs=argparse.REMAINDER, help="-- then the bench flags shared by both")
    a = p.parse_args()
    flags = [f for f in a.flags if f != "--"]
    rows = []
    for what in a.what.split(","):
        best = {}
        for _ in range(a.rounds):
            for side, cmd in (("rlhf4j", [os.path.join(ROOT, "rlhf4j"), "bench"] + flags + ["--only", what]),
                              ("peer", [a.python, a.peer] + flags + ["--only", what])):
                lines, rss = run_measured(cmd)
                m = next(l for l in lines if l.get("what") == what)
                key = KEYS[what]
                if side not in best or m[key] > best[side][0][key]:
                    best[side] = (m, rss)
        key = KEYS[what]
        ours, theirs = best["rlhf4j"], best["peer"]
        rows.append((what, ours[0][key], theirs[0][key], ours[0][key] / theirs[0][key], ours[1], theirs[1],
                     ours[0].get("raw_blas_gflops")))
    print("flags: " + " ".join(flags))
    print()
    print("| measurement | rlhf4j | PyTorch peer | ratio | rlhf4j peak RSS (MB) | peer peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, o, t, r, ro, rt, raw in rows:
        unit = {"train": "tokens/s", "decode": "new tokens/s", "gemm": "GFLOP/s", "dpo": "pairs/s"}[what]
        extra = f" (raw OpenBLAS call: {raw:.1f})" if raw else ""
        print(f"| {what} ({unit}) | {o:.1f}{extra} | {t:.1f} | {r:.2f}x | {ro:.0f} | {rt:.0f} |")


if __name__ == "__main__":
    main()
