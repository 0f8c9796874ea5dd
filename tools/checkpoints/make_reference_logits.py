#!/usr/bin/env python3
"""Reference logits of the real models in ../shared/data, computed with PyTorch from the files as stored.

Run with Debian's python3-torch, from the repository root:

    /usr/bin/python3 tools/checkpoints/make_reference_logits.py

Each file is parsed here with the standard library (safetensors, llama2.c .bin, GGUF) and run by a float64
re-implementation that uses the tensors in their own layout: GPT-2's Conv1D weights as x @ W, llama2.c's and GGUF's
q/k rows in Meta's interleaved RoPE pairing, separate q/k/v and gate/up projections. The Java loaders rearrange
those tensors into rlhf4j's fused layout, so agreement checks the rearrangement, not just the arithmetic.

It writes rlhf4j-model/src/test/resources/fixtures/checkpoint_logits.json ({"name": {"shape", "data"}}), read by
the Ckpt* tests, which skip where ../shared/data is absent. Vocabularies of tens of thousands are sampled (every
97th id and the last) to keep the file small.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "models")
OUT = os.path.join(ROOT, "rlhf4j-model", "src", "test", "resources", "fixtures", "checkpoint_logits.json")

torch.set_default_dtype(torch.float64)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def causal_attention(q, k, v):
    """q [T, H, hd], k and v [T, Hkv, hd]; key/value heads shared by consecutive query heads."""
    rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(q.shape[-1])
    t = q.shape[0]
    s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return torch.einsum("hts,shd->thd", torch.softmax(s, dim=-1), v).reshape(t, -1)


def rope_interleaved(x, theta):
    """Meta's RoPE on x [T, heads, hd]: pairs (2i, 2i+1) turn by pos * theta^(-2i/hd)."""
    t, _, hd = x.shape
    inv = 1.0 / theta ** (torch.arange(0, hd, 2) / hd)
    ang = torch.arange(t)[:, None] * inv[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(x.shape)


def llama_logits(w, tokens, heads, kv_heads, eps, theta):
    """w: dict of tok, and per layer lists att_norm, wq, wk, wv, wo, ffn_norm, w1 (gate), w2 (down), w3 (up)."""
    x = w["tok"][tokens]
    t, d = x.shape
    hd = d // heads
    for l in range(len(w["wq"])):
        h = rms_norm(x, w["att_norm"][l], eps)
        q = rope_interleaved((h @ w["wq"][l].T).reshape(t, heads, hd), theta)
        k = rope_interleaved((h @ w["wk"][l].T).reshape(t, kv_heads, hd), theta)
        v = (h @ w["wv"][l].T).reshape(t, kv_heads, hd)
        x = x + causal_attention(q, k, v) @ w["wo"][l].T
        h = rms_norm(x, w["ffn_norm"][l], eps)
        x = x + (F.silu(h @ w["w1"][l].T) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    return rms_norm(x, w["norm"], eps) @ w["cls"].T


# ------------------------------------------------------------------------------------------ llama2.c


def stories260k(out):
    path = os.path.join(DATA, "stories260K", "stories260K.bin")
    raw = open(path, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", raw, 0)
    floats = torch.from_numpy(np.frombuffer(raw, dtype="<f4", offset=28).astype(np.float64))
    kv = dim * kv_heads // heads
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        t = floats[pos:pos + n].reshape(shape)
        pos += n
        return t

    w = {"tok": take(abs(vocab), dim), "att_norm": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv, dim), "wv": take(layers, kv, dim), "wo": take(layers, dim, dim),
         "ffn_norm": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "norm": take(dim)}
    w["cls"] = w["tok"]  # shared classifier (positive vocab_size)
    pieces = llama2c_pieces(os.path.join(DATA, "stories260K", "tok512.bin"))
    tokens = [1] + [pieces.index(p) for p in (" Once", " upon", " a", " time")]
    logits = llama_logits(w, torch.tensor(tokens), heads, kv_heads, 1e-5, 10000.0)
    out["stories260K.tokens"] = tokens
    out["stories260K.logits"] = logits


def llama2c_pieces(path):
    raw = open(path, "rb").read()
    pos, pieces = 4, []
    while pos < len(raw):
        _, n = struct.unpack_from("<fi", raw, pos)
        pieces.append(raw[pos + 8:pos + 8 + n].decode("utf-8", "replace"))
        pos += 8 + n
    return pieces


# ------------------------------------------------------------------------------------------ HF GPT-2


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").astype(np.float64)
        out[name.removeprefix("transformer.")] = torch.from_numpy(arr.reshape(info["shape"]))
    return out


def hf_fake_gpt2(out):
    d = os.path.join(DATA, "hf-fake-gpt2")
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    tokens = torch.tensor([15496, 11, 995, 0, 4874, 2402, 257, 640])  # "Hello, world! Once upon a time"
    t, heads, eps = len(tokens), cfg["n_head"], cfg["layer_norm_epsilon"]
    x = w["wte.weight"][tokens] + w["wpe.weight"][:t]
    for l in range(cfg["n_layer"]):
        p = f"h.{l}."
        h = F.layer_norm(x, x.shape[-1:], w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (z.reshape(t, heads, -1) for z in qkv.split(x.shape[-1], dim=-1))
        x = x + causal_attention(q, k, v) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, x.shape[-1:], w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = F.layer_norm(x, x.shape[-1:], w["ln_f.weight"], w["ln_f.bias"], eps)
    ids = sampled_ids(cfg["vocab_size"])
    out["hf-fake-gpt2.tokens"] = tokens
    out["hf-fake-gpt2.vocab_ids"] = ids
    out["hf-fake-gpt2.logits"] = (x @ w["wte.weight"].T)[:, ids]


def sampled_ids(vocab):
    return torch.tensor(list(range(0, vocab, 97)) + [vocab - 1])


# ------------------------------------------------------------------------------------------ GGUF


def read_gguf(path):
    raw = open(path, "rb").read()
    pos = 0

    def unpack(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = unpack("Q")
        pos += n
        return raw[pos - n:pos].decode("utf-8")

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = unpack("I"), unpack("Q")
            return [value(et) for _ in range(n)]
        return unpack(scalar[t])

    assert raw[:4] == b"GGUF"
    pos = 4
    unpack("I")
    n_tensors, n_kv = unpack("Q"), unpack("Q")
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(unpack("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [unpack("Q") for _ in range(unpack("I"))]
        infos.append((name, dims, unpack("I"), unpack("Q")))
    align = meta.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, typ, off in infos:
        dtype = {0: "<f4", 1: "<f2"}[typ]
        n = int(np.prod(dims))
        arr = np.frombuffer(raw, dtype=dtype, count=n, offset=start + off).astype(np.float64)
        tensors[name] = torch.from_numpy(arr.reshape(list(reversed(dims))))  # ne[0] is the innermost
    return meta, tensors


def gguf_tiny(out):
    meta, t = read_gguf(os.path.join(DATA, "gguf-llama-2-tiny-random", "llama-2-tiny-random.gguf"))
    layers = meta["llama.block_count"]
    blk = lambda name: [t[f"blk.{l}.{name}.weight"] for l in range(layers)]
    w = {"tok": t["token_embd.weight"], "att_norm": blk("attn_norm"), "wq": blk("attn_q"), "wk": blk("attn_k"),
         "wv": blk("attn_v"), "wo": blk("attn_output"), "ffn_norm": blk("ffn_norm"), "w1": blk("ffn_gate"),
         "w2": blk("ffn_down"), "w3": blk("ffn_up"), "norm": t["output_norm.weight"], "cls": t["output.weight"]}
    vocab = meta["tokenizer.ggml.tokens"]
    tokens = [meta["tokenizer.ggml.bos_token_id"]] + [vocab.index(p) for p in ("▁Hello", ",", "▁world", "!")]
    logits = llama_logits(w, torch.tensor(tokens), meta["llama.attention.head_count"],
                          meta["llama.attention.head_count_kv"], meta["llama.attention.layer_norm_rms_epsilon"],
                          meta.get("llama.rope.freq_base", 10000.0))
    ids = sampled_ids(len(vocab))
    out["gguf-tiny.tokens"] = tokens
    out["gguf-tiny.vocab_ids"] = ids
    out["gguf-tiny.logits"] = logits[:, ids]


def main():
    out = {}
    stories260k(out)
    hf_fake_gpt2(out)
    gguf_tiny(out)
    items = {}
    for name, v in out.items():
        v = torch.as_tensor(v)
        data = v.reshape(-1).tolist()
        items[name] = {"shape": list(v.shape), "data": [int(x) for x in data] if not v.is_floating_point() else data}
    with open(OUT, "w") as f:
        json.dump(items, f, separators=(",", ":"))
    print("wrote", os.path.relpath(OUT, ROOT), len(items), "entries")


if __name__ == "__main__":
    main()
