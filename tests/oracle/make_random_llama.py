#!/usr/bin/python3
"""Writes a random-weight Llama checkpoint in Hugging Face layout.

Output DIR gets config.json, generation_config.json and either
model.safetensors (--shards 1) or model-0000i-of-0000N.safetensors shards plus
model.safetensors.index.json. Tensor names/shapes follow LlamaForCausalLM;
with --tie there is no lm_head.weight (as save_pretrained writes tied models).

Weights: every nn.Linear weight ~ N(0, 1/fan_in) (std 0.088 for fan_in 128),
o_proj/down_proj scaled by 0.5 to keep the residual stream moderate, RMSNorm
weights 1 + N(0, 0.1^2), embeddings N(0, 1), lm_head 2/sqrt(hidden) so logits
have std ~2 (clearly non-uniform). Values are drawn in float32 from
torch.Generator(seed) and rounded once to --dtype; the same seed and shape
options always give the same weights whatever the dtype rounding or sharding.

Default test model: hidden 128, intermediate 344, 3 layers, 8 heads, 2 KV
heads (GQA 4:1), head_dim 16, vocab 512, untied lm_head, llama3 rope_scaling
(factor 8, low 1, high 4, original_max_position_embeddings 64), bf16, 2 shards.
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created if needed)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=344)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--gqa-ratio", type=int, default=None,
                    help="query heads per KV head; overrides --kv-heads")
    ap.add_argument("--head-dim", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--max-position-embeddings", type=int, default=512)
    ap.add_argument("--rms-norm-eps", type=float, default=1e-5)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--rope-scaling", choices=["none", "linear", "llama3"], default="llama3")
    ap.add_argument("--rope-factor", type=float, default=8.0)
    ap.add_argument("--low-freq-factor", type=float, default=1.0)
    ap.add_argument("--high-freq-factor", type=float, default=4.0)
    ap.add_argument("--original-max-position-embeddings", type=int, default=64)
    ap.add_argument("--tie", action="store_true", help="tie_word_embeddings; no lm_head.weight")
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="bfloat16")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bos", type=int, default=1)
    ap.add_argument("--eos", type=int, nargs="+", default=[2])
    ap.add_argument("--config-overrides", default="{}",
                    help="JSON object merged into config.json last, e.g. "
                         "'{\"rms_norm_eps\": 1e-6}' (written as-is, not used for weights)")
    args = ap.parse_args(argv)
    if args.gqa_ratio is not None:
        if args.gqa_ratio <= 0 or args.heads % args.gqa_ratio:
            ap.error("--gqa-ratio must divide --heads")
        args.kv_heads = args.heads // args.gqa_ratio
    if args.kv_heads <= 0 or args.heads % args.kv_heads:
        ap.error("--kv-heads must divide --heads")
    if args.head_dim % 2 or args.shards < 1:
        ap.error("--head-dim must be even and --shards >= 1")
    return args


def make_config(a):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.hidden,
        "intermediate_size": a.intermediate,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": a.head_dim,
        "vocab_size": a.vocab,
        "max_position_embeddings": a.max_position_embeddings,
        "rms_norm_eps": a.rms_norm_eps,
        "rope_theta": a.rope_theta,
        "rope_scaling": None,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": a.tie,
        "bos_token_id": a.bos,
        "eos_token_id": a.eos[0] if len(a.eos) == 1 else a.eos,
        "torch_dtype": a.dtype,
    }
    if a.rope_scaling == "linear":
        cfg["rope_scaling"] = {"rope_type": "linear", "factor": a.rope_factor}
    elif a.rope_scaling == "llama3":
        cfg["rope_scaling"] = {
            "rope_type": "llama3",
            "factor": a.rope_factor,
            "low_freq_factor": a.low_freq_factor,
            "high_freq_factor": a.high_freq_factor,
            "original_max_position_embeddings": a.original_max_position_embeddings,
        }
    cfg.update(json.loads(a.config_overrides))
    return cfg


def make_weights(a):
    """{name: float32 tensor} in checkpoint order (embed, layers, norm, head)."""
    g = torch.Generator().manual_seed(a.seed)
    h, inter, hd = a.hidden, a.intermediate, a.head_dim
    q, kv = a.heads * hd, a.kv_heads * hd

    def normal(shape, std, mean=0.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean

    def linear(out_f, in_f, gain=1.0):
        return normal((out_f, in_f), gain / math.sqrt(in_f))

    w = {"model.embed_tokens.weight": normal((a.vocab, h), 1.0)}
    for i in range(a.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = normal((h,), 0.1, 1.0)
        w[p + "self_attn.q_proj.weight"] = linear(q, h)
        w[p + "self_attn.k_proj.weight"] = linear(kv, h)
        w[p + "self_attn.v_proj.weight"] = linear(kv, h)
        w[p + "self_attn.o_proj.weight"] = linear(h, q, 0.5)
        w[p + "post_attention_layernorm.weight"] = normal((h,), 0.1, 1.0)
        w[p + "mlp.gate_proj.weight"] = linear(inter, h)
        w[p + "mlp.up_proj.weight"] = linear(inter, h)
        w[p + "mlp.down_proj.weight"] = linear(h, inter, 0.5)
    w["model.norm.weight"] = normal((h,), 0.1, 1.0)
    head = linear(a.vocab, h, 2.0)  # Drawn even when tied, so seeds line up.
    if not a.tie:
        w["lm_head.weight"] = head
    return w


def split_shards(names, sizes, n):
    """Consecutive groups of names with roughly equal byte totals."""
    n = min(n, len(names))
    total, target = sum(sizes), sum(sizes) / n
    shards, acc = [[]], 0
    for name, size in zip(names, sizes):
        if acc >= target * len(shards) and len(shards) < n:
            shards.append([])
        shards[-1].append(name)
        acc += size
    return shards


def write_checkpoint(a):
    os.makedirs(a.out, exist_ok=True)
    dtype = getattr(torch, a.dtype)
    weights = {k: v.to(dtype) for k, v in make_weights(a).items()}
    names = list(weights)
    meta = {"format": "pt"}
    if a.shards == 1:
        safetensors_io.write_safetensors(os.path.join(a.out, "model.safetensors"), weights, meta)
    else:
        sizes = [weights[k].numel() * weights[k].element_size() for k in names]
        groups = split_shards(names, sizes, a.shards)
        weight_map, total = {}, 0
        for i, group in enumerate(groups):
            fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
            total += safetensors_io.write_safetensors(
                os.path.join(a.out, fname), {k: weights[k] for k in group}, meta)
            weight_map.update({k: fname for k in group})
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(make_config(a), f, indent=2)
    gen = {"bos_token_id": a.bos, "eos_token_id": a.eos[0] if len(a.eos) == 1 else a.eos}
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
    return len(names)


def main(argv=None):
    a = parse_args(argv)
    n = write_checkpoint(a)
    print(f"wrote {n} tensors ({a.dtype}, {a.shards} shard(s)) to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
