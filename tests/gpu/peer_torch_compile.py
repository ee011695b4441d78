#!/usr/bin/env python3
"""Batch-1 decode peer for `infernum bench`: PyTorch + torch.compile.

A gpt-fast-style Llama (static KV cache, decode step compiled with
torch.compile(mode="reduce-overhead"), i.e. CUDA graphs) on the shape of a
Hugging Face config.json with random bf16 weights. Prefills --prompt-len
tokens eagerly, warms the compiled decode step up, then times
--decode-steps greedy decode steps with CUDA events. Prints tokens/s and the
fraction of the bandwidth roofline: (weight bytes + KV bytes read per token)
over the copy bandwidth measured here (a device-to-device copy of
--copy-mib MiB, counted read + write as `infernum bench` does).

  python3 tests/gpu/peer_torch_compile.py --config llama-3.1-8b.json
  python3 tests/gpu/peer_torch_compile.py --tiny   # CPU smoke test

The last line is `PEER_JSON {...}` with every figure, for scripts.
"""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

TINY_CONFIG = {
    "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "vocab_size": 256, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                     "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 64},
}


def rope_inv_freq(cfg, head_dim):
    """inv_freq as transformers computes it (default and llama3 scaling)."""
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32)
                           / head_dim))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "llama3":
        factor = rs["factor"]
        low, high = rs["low_freq_factor"], rs["high_freq_factor"]
        old_len = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old_len / low, inv / factor, inv)
        smooth = (old_len / wavelen - low) / (high - low)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        is_mid = (wavelen >= old_len / high) & (wavelen <= old_len / low)
        inv = torch.where(is_mid, mid, scaled)
    elif kind == "linear":
        inv = inv / rs["factor"]
    return inv


class Layer(torch.nn.Module):
    """Weights (parameters) and static K/V cache (buffers) of one layer.

    Registered on modules so that torch.compile's CUDA graphs treat them as
    static addresses (no copy per replay), as gpt-fast does.
    """

    def __init__(self, shapes, cache_shape, rand, device, dtype):
        super().__init__()
        for name, shape in shapes.items():
            self.register_parameter(
                name, torch.nn.Parameter(rand(*shape), requires_grad=False))
        self.register_buffer("k", torch.zeros(cache_shape, dtype=dtype,
                                              device=device))
        self.register_buffer("v", torch.zeros(cache_shape, dtype=dtype,
                                              device=device))


class Llama(torch.nn.Module):
    """Decoder with a static KV cache of max_seq positions (batch 1)."""

    def __init__(self, cfg, max_seq, device, dtype, seed):
        super().__init__()
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim") or self.h // self.nh
        self.inter = cfg["intermediate_size"]
        self.vocab = cfg["vocab_size"]
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        gen = torch.Generator(device=device).manual_seed(seed)

        def rand(*shape):
            # Drawn on the device: host generation of 8B values is slow.
            t = torch.empty(*shape, dtype=dtype, device=device)
            return t.normal_(0.0, 0.02, generator=gen)

        def ones(*shape):
            return torch.ones(*shape, dtype=dtype, device=device)

        q, kv = self.nh * self.hd, self.nkv * self.hd
        shapes = {"wqkv": (q + 2 * kv, self.h), "wo": (self.h, q),
                  "w13": (2 * self.inter, self.h), "w2": (self.h, self.inter)}
        cache_shape = (1, self.nkv, max_seq, self.hd)
        self.layers = torch.nn.ModuleList()
        for _ in range(cfg["num_hidden_layers"]):
            layer = Layer(shapes, cache_shape, rand, device, dtype)
            layer.register_parameter(
                "n1", torch.nn.Parameter(ones(self.h), requires_grad=False))
            layer.register_parameter(
                "n2", torch.nn.Parameter(ones(self.h), requires_grad=False))
            self.layers.append(layer)
        self.embed = torch.nn.Parameter(rand(self.vocab, self.h),
                                        requires_grad=False)
        self.norm = torch.nn.Parameter(ones(self.h), requires_grad=False)
        self.lm_head = torch.nn.Parameter(rand(self.vocab, self.h),
                                          requires_grad=False)
        inv = rope_inv_freq(cfg, self.hd)
        ang = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)
        self.register_buffer("cos", ang.cos().to(device))
        self.register_buffer("sin", ang.sin().to(device))
        self.register_buffer("mask", torch.tril(torch.ones(
            max_seq, max_seq, dtype=torch.bool, device=device)))

    def weight_bytes(self):
        return sum(p.numel() * p.element_size() for p in self.parameters())

    def kv_bytes_per_position(self):
        return 2 * len(self.layers) * self.nkv * self.hd * \
            self.embed.element_size()

    def rms(self, x, w):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(x.dtype) * w

    def rope(self, x, pos):
        # x: [1, heads, T, hd]; rotate-half convention (HF Llama).
        cos = self.cos[pos][None, None]
        sin = self.sin[pos][None, None]
        x1, x2 = x.float().chunk(2, dim=-1)
        c, s = cos, sin
        out = torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)
        return out.to(x.dtype)

    def forward(self, tokens, pos):
        """tokens [1, T] int64, pos [T] int64 -> logits [1, vocab] (last)."""
        T = tokens.shape[1]
        x = F.embedding(tokens, self.embed)
        mask = self.mask[pos][None, None]  # [1, 1, T, max_seq]
        q_size, kv_size = self.nh * self.hd, self.nkv * self.hd
        for L in self.layers:
            h = self.rms(x, L.n1)
            q, k, v = F.linear(h, L.wqkv).split(
                [q_size, kv_size, kv_size], dim=-1)
            q = self.rope(q.view(1, T, self.nh, self.hd).transpose(1, 2), pos)
            k = self.rope(k.view(1, T, self.nkv, self.hd).transpose(1, 2), pos)
            v = v.view(1, T, self.nkv, self.hd).transpose(1, 2)
            L.k.index_copy_(2, pos, k)
            L.v.index_copy_(2, pos, v)
            rep = self.nh // self.nkv
            kk = L.k.repeat_interleave(rep, dim=1)
            vv = L.v.repeat_interleave(rep, dim=1)
            a = attention(q, kk, vv, mask)
            x = x + F.linear(a.transpose(1, 2).reshape(1, T, q_size), L.wo)
            h = self.rms(x, L.n2)
            gate, up = F.linear(h, L.w13).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, L.w2)
        x = self.rms(x[:, -1:], self.norm)
        return F.linear(x, self.lm_head)[:, 0].float()


def attention(q, k, v, mask):
    """Masked softmax attention (SDPA where this torch has it)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    s = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~mask, float("-inf"))
    return (s.softmax(-1) @ v.float()).to(q.dtype)


class Timer:
    """CUDA events on a GPU, perf_counter elsewhere; returns seconds."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0


def copy_bandwidth(device, mib, reps=8):
    """Best-of-reps device copy rate, bytes read + written per second."""
    n = mib << 20
    src = torch.empty(n, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(reps):
        with Timer(device) as t:
            dst.copy_(src)
        best = min(best, t.seconds)
    return 2.0 * n / best


def warm_up(model, tok, args, device):
    """Compiles (unless --no-compile) and runs the warmup decode steps.

    Tries torch.compile(mode="reduce-overhead") (CUDA graphs), then
    mode="default", then eager, so that a compiler failure still leaves a
    figure; returns (step, mode name, next token, position, warmup seconds).
    """
    modes = ["eager"] if args.no_compile else ["reduce-overhead", "default",
                                                "eager"]
    for mode in modes:
        step = model if mode == "eager" else torch.compile(
            model, mode=mode, fullgraph=True)
        t, p = tok.clone(), torch.tensor([args.prompt_len], device=device)
        t0 = time.perf_counter()
        try:
            for _ in range(args.warmup):
                t = step(t, p).argmax(-1, keepdim=True)
                p += 1
            if device.type == "cuda":
                torch.cuda.synchronize()
        except Exception as e:  # noqa: BLE001 - any compiler failure.
            if mode == "eager":
                raise
            print(f"note: torch.compile mode={mode} failed: "
                  f"{type(e).__name__}: {str(e)[:300]}", flush=True)
            torch._dynamo.reset()
            continue
        name = "eager" if mode == "eager" else f"torch.compile {mode}"
        return step, name, t, p, time.perf_counter() - t0
    raise AssertionError("unreachable")


def cudagraph_skips():
    """How many times inductor declined CUDA graphs (None if unknown)."""
    try:
        from torch._dynamo.utils import counters
        return int(counters["inductor"]["cudagraph_skips"])
    except Exception:  # noqa: BLE001 - older or newer torch.
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="HF config.json (the model shape)")
    ap.add_argument("--tiny", action="store_true",
                    help="a tiny built-in shape (CPU smoke test)")
    ap.add_argument("--device", default=None, help="cuda | cpu (default: "
                    "cuda if available)")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--decode-steps", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--copy-mib", type=int, default=1024)
    ap.add_argument("--no-compile", action="store_true",
                    help="eager decode (for comparison)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.tiny == bool(args.config):
        ap.error("give exactly one of --config FILE or --tiny")
    if args.prompt_len < 1 or args.decode_steps < 1 or args.warmup < 1:
        ap.error("--prompt-len, --decode-steps and --warmup must be >= 1")
    if not args.no_compile and not hasattr(torch, "compile"):
        if not args.tiny:
            ap.error(f"torch {torch.__version__} has no torch.compile")
        print(f"note: torch {torch.__version__} has no torch.compile; "
              "--tiny runs eager")
        args.no_compile = True
    cfg = TINY_CONFIG if args.tiny else json.load(open(args.config))
    device = torch.device(args.device or
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.tiny:
        args.copy_mib = min(args.copy_mib, 64)
    # Warmup steps run at positions after the prompt too; the timed steps
    # start at prompt_len + warmup.
    max_seq = args.prompt_len + args.warmup + args.decode_steps
    if max_seq > cfg["max_position_embeddings"]:
        ap.error("prompt + warmup + decode steps exceed the model context")
    torch.manual_seed(args.seed)
    dtype = torch.bfloat16
    with torch.no_grad():
        model = Llama(cfg, max_seq, device, dtype, args.seed)
        bw = copy_bandwidth(device, args.copy_mib)

        tokens = torch.randint(3, model.vocab, (1, args.prompt_len),
                               device=device)
        pos = torch.arange(args.prompt_len, device=device)
        with Timer(device) as t_prefill:
            logits = model(tokens, pos)

        first = logits.argmax(-1, keepdim=True)  # [1, 1]
        step, mode, tok, p, warmup_s = warm_up(model, first, args, device)
        with Timer(device) as t_decode:
            for _ in range(args.decode_steps):
                tok = step(tok, p).argmax(-1, keepdim=True)
                p += 1

    tok_s = args.decode_steps / t_decode.seconds
    weights = model.weight_bytes()
    embed = model.embed.numel() * model.embed.element_size()
    mean_ctx = args.prompt_len + args.warmup + args.decode_steps / 2.0
    kv = model.kv_bytes_per_position() * mean_ctx
    roofline = bw / (weights + kv)
    roofline_read = bw / (weights - embed + kv)
    name = "tiny" if args.tiny else args.config
    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else "cpu")
    print(f"peer             torch {torch.__version__}, {mode}"
          f", static KV cache, bf16, batch 1")
    print(f"model            {name} ({weights / 1e9:.2f} GB weights)")
    print(f"device           {dev_name}")
    print(f"copy bandwidth   {bw / 1e9:.1f} GB/s (copy of {args.copy_mib} MiB,"
          " read+write)")
    print(f"prefill (eager)  {args.prompt_len / t_prefill.seconds:.1f} tok/s "
          f"({args.prompt_len} tokens, includes first-call overhead)")
    print(f"warmup           {args.warmup} steps in {warmup_s:.1f} s "
          "(compilation)")
    print(f"decode           {tok_s:.2f} tok/s (batch 1, {args.decode_steps} "
          f"steps, context {args.prompt_len + args.warmup}..{max_seq})")
    print(f"decode roofline  {roofline:.2f} tok/s "
          f"({(weights + kv) / 1e6:.1f} MB weights+KV per token)")
    print(f"decode fraction  {100 * tok_s / roofline:.1f}% of the bandwidth "
          f"roofline ({100 * tok_s / roofline_read:.1f}% counting only the "
          "embedding row read)")
    print("PEER_JSON " + json.dumps({
        "model": name, "device": dev_name, "torch": torch.__version__,
        "compiled": mode != "eager", "mode": mode,
        "cudagraph_skips": cudagraph_skips(), "prompt_len": args.prompt_len,
        "decode_steps": args.decode_steps, "decode_tok_s": tok_s,
        "copy_bandwidth_gb_s": bw / 1e9, "weight_bytes": weights,
        "kv_bytes_per_token": kv, "roofline_tok_s": roofline,
        "roofline_fraction": tok_s / roofline,
        # Like infernum's roofline: one embedding row read per token.
        "roofline_fraction_read": tok_s / roofline_read,
        "prefill_tok_s": args.prompt_len / t_prefill.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
