#!/usr/bin/python3
"""Independent PyTorch reference for the Hugging Face Llama forward pass.

Written from the math of transformers' LlamaForCausalLM (no transformers
import): embedding, RMSNorm in f32, rotate_half RoPE (default / linear /
llama3 frequencies computed as transformers does), GQA via repeat_kv, causal
softmax attention scaled by head_dim**-0.5, SiLU-gated MLP, tied or untied
LM head. Qwen3's per-head q/k RMSNorm is applied when model_type is "qwen3".
Weights of any dtype are upcast exactly to the compute dtype (float32 by
default). Each prompt is run as one full-sequence (prefill) pass.

With --round-bf16-matmul-inputs, the input of every matmul whose weight is
stored in bfloat16 is first rounded to bfloat16 (nearest even), as llama.cpp
and infernum's --cpu-matmul-precision bf16 do; everything else is unchanged.

With --round-kv-bf16, every key (after RoPE) and value is rounded to bfloat16
(nearest even) before attention uses it, as a bf16 KV cache stores them
(infernum's --kv-cache-dtype bf16); queries and everything else are unchanged.

CLI (stable; see README.md):
  llama_oracle.py --model DIR --tokens "1 403 407" [--tokens "..."]
                  --out logits.json [--compute-dtype float32|float64]
                  [--round-bf16-matmul-inputs] [--round-kv-bf16]
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


class Config:
    """The config.json fields the forward pass needs, with LlamaConfig defaults."""

    def __init__(self, d):
        self.model_type = d.get("model_type", "llama")
        self.hidden = d["hidden_size"]
        self.inter = d["intermediate_size"]
        self.layers = d["num_hidden_layers"]
        self.heads = d["num_attention_heads"]
        self.kv_heads = d.get("num_key_value_heads") or self.heads
        self.head_dim = d.get("head_dim") or self.hidden // self.heads
        self.vocab = d["vocab_size"]
        self.eps = d.get("rms_norm_eps", 1e-6)
        self.theta = d.get("rope_theta", 10000.0)
        self.rope_scaling = d.get("rope_scaling") or {}
        self.tie = d.get("tie_word_embeddings", False)
        self.qk_norm = self.model_type == "qwen3"
        for key in ("attention_bias", "mlp_bias"):
            if d.get(key):
                raise ValueError(f"{key}=true is not supported by the oracle")
        if d.get("hidden_act", "silu") != "silu":
            raise ValueError("only hidden_act=silu is supported")


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = Config(json.load(f))
    return config, safetensors_io.load_checkpoint(model_dir)


def rope_inv_freq(cfg):
    """inv_freq as transformers' _compute_{default,linear_scaling,llama3}_parameters (f32)."""
    dim = cfg.head_dim
    inv = 1.0 / (cfg.theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    s = cfg.rope_scaling
    kind = s.get("type", s.get("rope_type", "default")) if s else "default"
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / s["factor"]
    if kind != "llama3":
        raise ValueError(f"unsupported rope type {kind}")
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_len = s["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    """[kv_heads, T, hd] -> [kv_heads * n_rep, T, hd]; query head h uses kv head h // n_rep."""
    if n_rep == 1:
        return x
    kvh, t, hd = x.shape
    return x[:, None, :, :].expand(kvh, n_rep, t, hd).reshape(kvh * n_rep, t, hd)


class Weights(dict):
    """Weights in the compute dtype; linear() applies one (x @ W.T)."""

    def __init__(self, weights, dtype, round_bf16_inputs):
        super().__init__({k: v.to(dtype) for k, v in weights.items()})
        self.bf16 = {k for k, v in weights.items() if v.dtype == torch.bfloat16}
        self.round_bf16_inputs = round_bf16_inputs

    def linear(self, x, name):
        if self.round_bf16_inputs and name in self.bf16:
            x = round_bf16(x)
        return x @ self[name].T


def round_bf16(x):
    """x rounded to the nearest bfloat16 (ties to even), in x's dtype."""
    return x.to(torch.bfloat16).to(x.dtype)


def attention(cfg, w, p, h, cos, sin, round_kv=False):
    t = h.shape[0]
    hd = cfg.head_dim
    q = w.linear(h, p + "self_attn.q_proj.weight").view(t, cfg.heads, hd).transpose(0, 1)
    k = w.linear(h, p + "self_attn.k_proj.weight").view(t, cfg.kv_heads, hd).transpose(0, 1)
    v = w.linear(h, p + "self_attn.v_proj.weight").view(t, cfg.kv_heads, hd).transpose(0, 1)
    if cfg.qk_norm:
        q = rms_norm(q, w[p + "self_attn.q_norm.weight"], cfg.eps)
        k = rms_norm(k, w[p + "self_attn.k_norm.weight"], cfg.eps)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    if round_kv:  # What a bf16 KV cache holds.
        k, v = round_bf16(k), round_bf16(v)
    n_rep = cfg.heads // cfg.kv_heads
    k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
    scores = (q @ k.transpose(1, 2)) * (hd ** -0.5)
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(causal, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = (probs @ v).transpose(0, 1).reshape(t, cfg.heads * hd)
    return w.linear(out, p + "self_attn.o_proj.weight")


def mlp(w, p, h):
    gate = w.linear(h, p + "mlp.gate_proj.weight")
    up = w.linear(h, p + "mlp.up_proj.weight")
    return w.linear(torch.nn.functional.silu(gate) * up, p + "mlp.down_proj.weight")


def forward(cfg, weights, tokens, dtype=torch.float32, round_bf16_inputs=False,
            round_kv=False):
    """Logits [len(tokens), vocab] for one prompt at positions 0..T-1."""
    w = Weights(weights, dtype, round_bf16_inputs)
    ids = torch.tensor(tokens, dtype=torch.int64)
    if ids.numel() == 0 or ids.min() < 0 or ids.max() >= cfg.vocab:
        raise ValueError(f"token ids must be in [0, {cfg.vocab}): {tokens}")
    x = w["model.embed_tokens.weight"][ids]
    pos = torch.arange(len(tokens), dtype=torch.float32)
    freqs = pos[:, None] * rope_inv_freq(cfg)[None, :]  # f32, as transformers.
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg.eps)
        x = x + attention(cfg, w, p, h, cos, sin, round_kv)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg.eps)
        x = x + mlp(w, p, h)
    x = rms_norm(x, w["model.norm.weight"], cfg.eps)
    return w.linear(x, "model.embed_tokens.weight" if cfg.tie else "lm_head.weight")


def parse_tokens(text):
    return [int(t) for t in text.replace(",", " ").split()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="HF checkpoint directory")
    ap.add_argument("--tokens", action="append", required=True,
                    help='prompt token ids, e.g. "1 403 407"; repeat for more prompts')
    ap.add_argument("--out", required=True, help="output JSON path ('-' for stdout)")
    ap.add_argument("--compute-dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--round-bf16-matmul-inputs", action="store_true",
                    help="round the input of each bfloat16-weight matmul to bfloat16")
    ap.add_argument("--round-kv-bf16", action="store_true",
                    help="round keys (after RoPE) and values to bfloat16, as a bf16 KV cache")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    cfg, weights = load_model(args.model)
    dtype = getattr(torch, args.compute_dtype)
    prompts = []
    for text in args.tokens:
        tokens = parse_tokens(text)
        logits = forward(cfg, weights, tokens, dtype, args.round_bf16_matmul_inputs,
                         args.round_kv_bf16)
        prompts.append({
            "tokens": tokens,
            "argmax": logits.argmax(-1).tolist(),
            "logits": logits.tolist(),
        })
        print(f"tokens={tokens} argmax={prompts[-1]['argmax']}", file=sys.stderr)
    result = {
        "model": os.path.abspath(args.model),
        "compute_dtype": args.compute_dtype,
        "round_bf16_matmul_inputs": args.round_bf16_matmul_inputs,
        "round_kv_bf16": args.round_kv_bf16,
        "vocab_size": cfg.vocab,
        "prompts": prompts,
    }
    if args.out == "-":
        json.dump(result, sys.stdout)
    else:
        with open(args.out, "w") as f:
            json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
