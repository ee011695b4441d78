#!/usr/bin/python3
"""Self-tests for the oracle tools: safetensors_io round trips,
make_random_llama options, and properties of llama_oracle.forward that an
independent formulation must share (sharding/dtype invariance, causality,
GQA == MHA with repeated K/V heads, tied == untied with lm_head = embedding,
llama3 RoPE frequencies vs Meta's scalar reference formula, bf16 K/V rounding).

  /usr/bin/python3 tests/oracle/test_oracle.py
"""

import json
import math
import os
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_oracle  # noqa: E402
import make_random_llama  # noqa: E402
import safetensors_io  # noqa: E402

TOKENS = [1, 17, 300, 5, 42, 511, 7, 99, 250, 3, 64, 128]


def make(tmp, name, *extra):
    out = os.path.join(tmp, name)
    make_random_llama.main(["--out", out, *extra])
    return out


def run(model_dir, tokens=TOKENS):
    cfg, weights = llama_oracle.load_model(model_dir)
    return llama_oracle.forward(cfg, weights, tokens)


class OracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_grad_enabled(False)
        cls._tmp = tempfile.TemporaryDirectory()
        cls.tmp = cls._tmp.name

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_safetensors_round_trip(self):
        g = torch.Generator().manual_seed(3)
        tensors = {
            "f32": torch.randn(3, 5, generator=g),
            "bf16": torch.randn(7, generator=g).to(torch.bfloat16),
            "f16": torch.randn(2, 2, 2, generator=g).half(),
            "i64": torch.arange(4),
            "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 3),
        }
        path = os.path.join(self.tmp, "rt.safetensors")
        safetensors_io.write_safetensors(path, tensors, {"format": "pt"})
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
        self.assertEqual((8 + header_len) % 8, 0)
        back = safetensors_io.read_safetensors(path)
        self.assertEqual(set(back), set(tensors))
        for k, t in tensors.items():
            self.assertEqual(back[k].dtype, t.dtype, k)
            self.assertTrue(torch.equal(back[k], t), k)

    def test_default_checkpoint_layout(self):
        d = make(self.tmp, "default")
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual((cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"],
                          cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"],
                          cfg["vocab_size"]), (128, 344, 3, 8, 2, 16, 512))
        self.assertEqual(cfg["rope_scaling"]["rope_type"], "llama3")
        self.assertFalse(cfg["tie_word_embeddings"])
        with open(os.path.join(d, "model.safetensors.index.json")) as f:
            index = json.load(f)
        self.assertEqual(sorted(set(index["weight_map"].values())),
                         ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        weights = safetensors_io.load_checkpoint(d)
        self.assertEqual(len(weights), 1 + 3 * 9 + 2)
        self.assertTrue(all(t.dtype == torch.bfloat16 for t in weights.values()))
        self.assertEqual(tuple(weights["model.layers.2.self_attn.k_proj.weight"].shape), (32, 128))
        logits = run(d)
        self.assertTrue(1.0 < float(logits.std()) < 4.0)  # Not degenerate, not exploding.

    def test_sharding_and_dtype(self):
        one = run(make(self.tmp, "s1", "--shards", "1"))
        three = run(make(self.tmp, "s3", "--shards", "3"))
        self.assertTrue(torch.equal(one, three))
        f32 = run(make(self.tmp, "f32", "--dtype", "float32", "--shards", "1"))
        f16 = run(make(self.tmp, "f16", "--dtype", "float16", "--shards", "1"))
        self.assertLess(float((f32 - one).abs().max()), 0.3)  # bf16 rounding only.
        self.assertLess(float((f32 - f16).abs().max()), 0.05)
        self.assertFalse(torch.equal(f32, one))

    def test_causal_prefix_consistency(self):
        d = make(self.tmp, "causal", "--shards", "1")
        full = run(d)
        for n in (1, 5, 9):
            self.assertLess(float((run(d, TOKENS[:n]) - full[:n]).abs().max()), 1e-5)

    def test_gqa_equals_mha_with_repeated_kv(self):
        d = make(self.tmp, "gqa", "--gqa-ratio", "4", "--shards", "1", "--dtype", "float32")
        cfg, w = llama_oracle.load_model(d)
        self.assertEqual(cfg.kv_heads, 2)
        mha = dict(w)
        for i in range(cfg.layers):
            for proj in ("k_proj", "v_proj"):
                name = f"model.layers.{i}.self_attn.{proj}.weight"
                heads = w[name].view(cfg.kv_heads, cfg.head_dim, cfg.hidden)
                # Query head h reads KV head h // 4.
                mha[name] = heads.repeat_interleave(4, dim=0).reshape(-1, cfg.hidden)
        cfg.kv_heads = cfg.heads
        got = llama_oracle.forward(cfg, mha, TOKENS)
        self.assertLess(float((got - run(d)).abs().max()), 1e-5)

    def test_tied_head_uses_embedding(self):
        d = make(self.tmp, "tied", "--tie", "--shards", "1")
        cfg, w = llama_oracle.load_model(d)
        self.assertNotIn("lm_head.weight", w)
        untied = dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"]})
        cfg.tie = False
        self.assertTrue(torch.equal(llama_oracle.forward(cfg, untied, TOKENS), run(d)))

    def test_llama3_inv_freq_matches_meta_reference(self):
        cfg, _ = llama_oracle.load_model(make(self.tmp, "rope", "--shards", "1"))
        got = llama_oracle.rope_inv_freq(cfg).tolist()
        base = [1.0 / (10000.0 ** (2 * j / 16)) for j in range(8)]
        want = []
        for f in base:  # Meta's apply_scaling, in double precision.
            wavelen = 2 * math.pi / f
            if wavelen < 64 / 4:
                want.append(f)
            elif wavelen > 64 / 1:
                want.append(f / 8)
            else:
                smooth = (64 / wavelen - 1) / (4 - 1)
                want.append((1 - smooth) * f / 8 + smooth * f)
        for g, w in zip(got, want):
            self.assertAlmostEqual(g, w, delta=1e-6 * w)
        self.assertNotEqual(got[1:], base[1:])  # The scaling actually changes frequencies.
        cfg.rope_scaling = {"rope_type": "linear", "factor": 4.0}
        for g, b in zip(llama_oracle.rope_inv_freq(cfg).tolist(), base):
            self.assertAlmostEqual(g, b / 4, delta=1e-6 * b)

    def test_round_kv_bf16(self):
        # Nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 (odd), so 1;
        # 1 + 3 * 2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
        x = torch.tensor([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-7, -3.0], dtype=torch.float64)
        want = [1.0, 1 + 2**-6, 1 + 2**-7, -3.0]
        self.assertEqual(llama_oracle.round_bf16(x).tolist(), want)
        d = make(self.tmp, "kv", "--dtype", "float32", "--shards", "1")
        cfg, weights = llama_oracle.load_model(d)
        plain = llama_oracle.forward(cfg, weights, TOKENS, torch.float64)
        kv = llama_oracle.forward(cfg, weights, TOKENS, torch.float64, round_kv=True)
        diff = float((plain - kv).abs().max())
        self.assertGreater(diff, 0)  # The rounding is applied ...
        self.assertLess(diff, 0.05 * float(plain.abs().max()))  # ... and small.


if __name__ == "__main__":
    unittest.main()
