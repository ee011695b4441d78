#!/usr/bin/env python3
"""Summarizes a tests/gpu/run_device.sh run: OUT/summary.md + summary.json.

Reads OUT/steps.tsv (name, status, rc, seconds, command) and OUT/logs/*.log.
Performance figures are put against the device's own measurements from
cuda_bench (device-to-device copy bandwidth, cuBLASLt bf16 GEMM rate), as
issue 6 asks: batch-1 decode as a fraction of the bandwidth roofline
(weight + KV bytes per token, from `infernum bench`), prefill of 2048 tokens
in TFLOP/s as a fraction of the measured GEMM rate, offline throughput, and
the ratio to the torch.compile peer. Standard library only.
"""

import argparse
import json
import os
import re
import sys


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def find(pattern, text, cast=float):
    m = re.search(pattern, text, re.M)
    return cast(m.group(1)) if m else None


def gtest_counts(log):
    out = {}
    for key, pat in (("passed", r"^\[  PASSED  \] (\d+) test"),
                     ("failed", r"^\[  FAILED  \] (\d+) test"),
                     ("skipped", r"^\[  SKIPPED \] (\d+) test")):
        out[key] = find(pat, log, int) or 0
    out["failed_names"] = sorted(set(re.findall(
        r"^\[  FAILED  \] (\S+)(?: \(| \S)", log, re.M)))
    out["skipped_names"] = sorted(set(re.findall(
        r"^\[  SKIPPED \] (\S+) \(", log, re.M)))
    return out


def prefill_flops(cfg, n):
    """Matmul + causal attention FLOPs of an n-token prefill (logits for the
    last row only, as `infernum bench` computes them)."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    q, kv = nh * hd, nkv * hd
    per_token = h * (q + 2 * kv) + q * h + h * 2 * inter + inter * h
    layers = cfg["num_hidden_layers"]
    matmul = 2.0 * n * per_token * layers + 2.0 * h * cfg["vocab_size"]
    attention = 2 * 2.0 * nh * hd * n * (n + 1) / 2 * layers
    return matmul + attention


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args()
    out = args.out
    logs = os.path.join(out, "logs")
    steps = []
    for line in read(os.path.join(out, "steps.tsv")).splitlines():
        parts = line.split("\t")
        if len(parts) >= 5:
            steps.append(dict(zip(("name", "status", "rc", "seconds",
                                   "command"), parts)))
    log = {s["name"]: read(os.path.join(logs, s["name"] + ".log"))
           for s in steps}
    try:
        cfg = json.load(open(args.config))
    except (OSError, ValueError):
        cfg = None

    summary = {"steps": steps, "tests": {}, "perf": {}}
    dev = log.get("check_device", "")
    m = re.search(r"^name, driver_version.*\n(.+)$", dev, re.M)
    summary["device"] = m.group(1).strip() if m else "unknown"
    for s in steps:
        if s["name"].startswith(("test_", "memcheck_", "racecheck_")):
            summary["tests"][s["name"]] = gtest_counts(log[s["name"]])
        if s["name"].startswith(("memcheck_", "racecheck_")):
            summary["tests"][s["name"]]["sanitizer_errors"] = find(
                r"ERROR SUMMARY: (\d+) error", log[s["name"]], int)

    perf = summary["perf"]
    cb = log.get("cuda_bench", "")
    bw = find(r"D2D copy 1 GiB.*?([\d.]+) GB/s", cb)
    gemm = find(r"GEMM bf16 \d+\^3.*?([\d.]+) TFLOP/s", cb)
    perf["copy_bandwidth_gb_s"], perf["gemm_bf16_tflop_s"] = bw, gemm
    dec = log.get("bench_decode_b1", "")
    tok_s = find(r"^decode\s+([\d.]+) tokens/s", dec)
    mb_per_tok = find(r"^decode roofline.*\(([\d.]+) MB weights\+KV", dec)
    perf["decode_tok_s"] = tok_s
    if tok_s and mb_per_tok and bw:
        perf["decode_roofline_fraction"] = tok_s * mb_per_tok * 1e6 / (bw * 1e9)
    pre = log.get("bench_prefill_2048", "")
    pre_tok_s = find(r"^prefill\s+([\d.]+) tokens/s", pre)
    pre_n = find(r"^prefill\s+[\d.]+ tokens/s \((\d+) tokens", pre, int)
    perf["prefill_tok_s"] = pre_tok_s
    if pre_tok_s and pre_n and cfg:
        tflops = prefill_flops(cfg, pre_n) * pre_tok_s / pre_n / 1e12
        perf["prefill_tflop_s"] = tflops
        if gemm:
            perf["prefill_gemm_peak_fraction"] = tflops / gemm
    for name in ("bench_tput_1024_128", "bench_tput_128_128"):
        t = log.get(name, "")
        perf[name] = {
            "output_tok_s": find(r"^output tokens/s\s+([\d.]+)", t),
            "total_tok_s": find(r"^total tokens/s \(prompt\+output\)\s+([\d.]+)", t),
            "ttft_ms_mean_p50_p99": find(r"^TTFT mean/p50/p99 \(ms\)\s+(\S+)", t, str),
            "itl_ms_mean_p50_p99": find(r"^ITL mean/p50/p99 \(ms\)\s+(\S+)", t, str),
        }
    peer = find(r"^PEER_JSON (.*)$", log.get("peer_torch_compile", ""), str)
    perf["peer"] = json.loads(peer) if peer else None
    if perf["peer"] and tok_s:
        perf["decode_vs_peer"] = tok_s / perf["peer"]["decode_tok_s"]

    md = ["# GPU device run", "", f"Device: {summary['device']}", "",
          "| step | status | rc | s | tests passed/failed/skipped |",
          "| --- | --- | --- | --- | --- |"]
    for s in steps:
        t = summary["tests"].get(s["name"])
        counts = (f"{t['passed']}/{t['failed']}/{t['skipped']}" if t else "")
        if t and t.get("sanitizer_errors") is not None:
            counts += f" sanitizer errors: {t['sanitizer_errors']}"
        md.append(f"| {s['name']} | {s['status']} | {s['rc']} | "
                  f"{s['seconds']} | {counts} |")
    md.append("")
    for name, t in summary["tests"].items():
        if t["failed_names"]:
            md.append(f"- {name} FAILED: {', '.join(t['failed_names'])}")
        if t["skipped_names"]:
            md.append(f"- {name} skipped: {', '.join(t['skipped_names'])}")

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    md += ["", "## Performance (Llama-3.1-8B shape, dummy bf16 weights)", "",
           f"- copy bandwidth (cuda_bench D2D 1 GiB, read+write): "
           f"{fmt(bw, '.1f')} GB/s; cuBLASLt bf16 GEMM: {fmt(gemm, '.1f')} "
           "TFLOP/s",
           f"- batch-1 decode: {fmt(tok_s, '.2f')} tok/s = "
           f"{fmt(perf.get('decode_roofline_fraction'), '.1%')} of the "
           "bandwidth roofline (target >= 85%)",
           f"- prefill {pre_n or 2048} tokens: {fmt(pre_tok_s, '.0f')} tok/s"
           f" = {fmt(perf.get('prefill_tflop_s'), '.1f')} TFLOP/s = "
           f"{fmt(perf.get('prefill_gemm_peak_fraction'), '.1%')} of the "
           "measured GEMM rate (target >= 60%)"]
    for name in ("bench_tput_1024_128", "bench_tput_128_128"):
        t = perf[name]
        md.append(f"- {name}: output {fmt(t['output_tok_s'], '.1f')} tok/s,"
                  f" total {fmt(t['total_tok_s'], '.1f')} tok/s, TTFT "
                  f"{t['ttft_ms_mean_p50_p99'] or 'n/a'} ms, ITL "
                  f"{t['itl_ms_mean_p50_p99'] or 'n/a'} ms (mean/p50/p99)")
    if perf["peer"]:
        p = perf["peer"]
        md.append(f"- peer (torch {p['torch']}, torch.compile "
                  f"reduce-overhead): {p['decode_tok_s']:.2f} tok/s = "
                  f"{p['roofline_fraction']:.1%} of its roofline at "
                  f"{p['copy_bandwidth_gb_s']:.1f} GB/s; infernum/peer = "
                  f"{fmt(perf.get('decode_vs_peer'), '.2f')}x (target > 1)")
    md += ["", "## Commands", ""]
    md += [f"- `{s['command']}`" for s in steps
           if s["name"].startswith(("bench", "cuda_bench", "peer"))]
    problems = [s["name"] + ": " + s["status"] for s in steps
                if s["status"] in ("FAIL", "TIMEOUT")]
    for s in steps:
        if "Device not supported" in log.get(s["name"], ""):
            problems.append(s["name"] + ": compute-sanitizer refused the "
                            "device (a gVisor machine; it works on "
                            "Firecracker ones)")
    # On the device nothing may skip but the CUDA-graphs-on engine case
    # (the model runner cannot capture yet).
    for name, t in summary["tests"].items():
        unexpected = [n for n in t["skipped_names"]
                      if not n.endswith("/CudaGraphsOn")]
        if unexpected:
            problems.append(f"{name}: {len(unexpected)} unexpected skips")
    summary["problems"] = problems
    md[4:4] = (["Problems: " + "; ".join(problems), ""] if problems
               else ["Every step that ran passed.", ""])
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
