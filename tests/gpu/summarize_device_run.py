#!/usr/bin/env python3
"""Summarizes a tests/gpu/run_device.sh run: OUT/summary.md + summary.json.

Reads OUT/steps.tsv (name, status, rc, seconds, command), OUT/logs/*.log and
the JSON files `infernum bench --json` wrote (OUT/bench.json,
OUT/bench_no_graphs.json). Issue 6's figures all come from the one
`infernum bench --backend cuda` process, against the copy bandwidth and bf16
GEMM rate it measured itself: batch-1 decode as a fraction of the bandwidth
roofline (weight + KV bytes per token), prefill of 2048 tokens in TFLOP/s as
a fraction of the GEMM rate, offline throughput; cuda_bench's own copy and
GEMM figures are listed beside them as a cross-check, with the ratio to the
torch.compile peer. Standard library only.
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


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def bench_perf(bench, text, cfg):
    """Issue-6 figures from `infernum bench --json` (text fallback: the
    bench_cuda log, for a run cut short before its first JSON write)."""
    p = {"copy_bandwidth_gb_s": None, "gemm_bf16_tflop_s": None,
         "decode_tok_s": None, "decode_roofline_fraction": None,
         "prefill_tok_s": None, "prefill_tokens": None,
         "prefill_tflop_s": None, "prefill_gemm_peak_fraction": None,
         "decode_graphs": None, "throughput": [],
         "bench_complete": bool(bench and bench.get("complete"))}
    if bench:
        if "roofline_bandwidth_bytes_per_s" in bench:
            p["copy_bandwidth_gb_s"] = bench["roofline_bandwidth_bytes_per_s"] / 1e9
        g = bench.get("gemm_peak", {})
        p["gemm_bf16_tflop_s"] = g.get("tflop_s")
        if g:
            p["gemm_shape"] = f"{g['m']}x{g['n']}x{g['k']}"
        d, pre = bench.get("decode", {}), bench.get("prefill", {})
        p["decode_tok_s"] = d.get("tok_s")
        p["decode_roofline_fraction"] = d.get("roofline_fraction")
        p["decode_bytes_per_token"] = d.get("bytes_per_token")
        p["prefill_tok_s"] = pre.get("tok_s")
        p["prefill_tokens"] = pre.get("tokens")
        p["prefill_tflop_s"] = pre.get("tflop_s")
        p["prefill_gemm_peak_fraction"] = pre.get("gemm_peak_fraction")
        p["decode_graphs"] = bench.get("decode_graphs")
        p["throughput"] = bench.get("throughput", [])
        return p
    bw = find(r"^memory bandwidth\s+([\d.]+) GB/s", text)
    gemm = find(r"^GEMM peak\s+([\d.]+) TFLOP/s", text)
    tok_s = find(r"^decode\s+([\d.]+) tokens/s", text)
    mb_per_tok = find(r"^decode roofline.*\(([\d.]+) MB weights\+KV", text)
    p.update(copy_bandwidth_gb_s=bw, gemm_bf16_tflop_s=gemm, decode_tok_s=tok_s)
    if tok_s and mb_per_tok and bw:
        p["decode_roofline_fraction"] = tok_s * mb_per_tok * 1e6 / (bw * 1e9)
    p["prefill_tok_s"] = find(r"^prefill\s+([\d.]+) tokens/s", text)
    p["prefill_tokens"] = find(r"^prefill\s+[\d.]+ tokens/s \((\d+) tokens",
                               text, int)
    if p["prefill_tok_s"] and p["prefill_tokens"] and cfg:
        tflops = (prefill_flops(cfg, p["prefill_tokens"]) * p["prefill_tok_s"]
                  / p["prefill_tokens"] / 1e12)
        p["prefill_tflop_s"] = tflops
        if gemm:
            p["prefill_gemm_peak_fraction"] = tflops / gemm
    return p


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
    bench = read_json(os.path.join(out, "bench.json"))
    perf.update(bench_perf(bench, log.get("bench_cuda", ""), cfg))
    cb = log.get("cuda_bench", "")
    perf["cuda_bench_copy_gb_s"] = find(r"D2D copy 1 GiB.*?([\d.]+) GB/s", cb)
    perf["cuda_bench_gemm_tflop_s"] = find(
        r"GEMM bf16 \d+\^3.*?([\d.]+) TFLOP/s", cb)
    no_graphs = read_json(os.path.join(out, "bench_no_graphs.json"))
    perf["decode_tok_s_no_cuda_graphs"] = (
        no_graphs.get("decode", {}).get("tok_s") if no_graphs else None)
    bw, gemm = perf["copy_bandwidth_gb_s"], perf["gemm_bf16_tflop_s"]
    tok_s, pre_tok_s = perf["decode_tok_s"], perf["prefill_tok_s"]
    pre_n = perf["prefill_tokens"]
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
           f"- measured by `infernum bench` in the same process: copy "
           f"bandwidth {fmt(bw, '.1f')} GB/s (Backend::CopyOnDevice, "
           f"read+write); bf16 GEMM {fmt(gemm, '.1f')} TFLOP/s "
           f"(Backend::Matmul {perf.get('gemm_shape', 'n/a')}); cuda_bench: "
           f"{fmt(perf['cuda_bench_copy_gb_s'], '.1f')} GB/s, "
           f"{fmt(perf['cuda_bench_gemm_tflop_s'], '.1f')} TFLOP/s"
           + ("" if perf["bench_complete"] else
              " (infernum bench did not complete: figures so far)"),
           f"- batch-1 decode: {fmt(tok_s, '.2f')} tok/s = "
           f"{fmt(perf.get('decode_roofline_fraction'), '.1%')} of the "
           "bandwidth roofline (target >= 85%); without CUDA graphs "
           f"{fmt(perf['decode_tok_s_no_cuda_graphs'], '.2f')} tok/s"
           + (f"; graphs: {perf['decode_graphs']['num_graphs']}, "
              f"{perf['decode_graphs']['graph_steps']}/"
              f"{perf['decode_graphs']['decode_steps']} steps on the graph "
              "path"
              if perf.get("decode_graphs") else ""),
           f"- prefill {pre_n or 2048} tokens: {fmt(pre_tok_s, '.0f')} tok/s"
           f" = {fmt(perf.get('prefill_tflop_s'), '.1f')} TFLOP/s = "
           f"{fmt(perf.get('prefill_gemm_peak_fraction'), '.1%')} of the "
           "measured GEMM rate (target >= 60%)"]
    for t in perf["throughput"]:
        md.append(
            f"- throughput {t['num_requests']} x {t['input_len']}-in/"
            f"{t['output_len']}-out: output {t['output_tok_s']:.1f} tok/s, "
            f"total {t['total_tok_s']:.1f} tok/s, TTFT "
            f"{t['ttft_ms']['mean']:.1f}/{t['ttft_ms']['p50']:.1f}/"
            f"{t['ttft_ms']['p99']:.1f} ms, ITL {t['itl_ms']['mean']:.1f}/"
            f"{t['itl_ms']['p50']:.1f}/{t['itl_ms']['p99']:.1f} ms "
            f"(mean/p50/p99), peak KV {t['peak_kv_cache_usage']:.0%} of "
            f"{t['num_kv_blocks']} blocks, {t['num_preemptions']} preemptions")
    if not perf["throughput"]:
        md.append("- throughput: n/a")
    if perf["peer"]:
        p = perf["peer"]
        mode = p.get("mode", "torch.compile reduce-overhead")
        frac = p.get("roofline_fraction_read", p["roofline_fraction"])
        md.append(f"- peer (torch {p['torch']}, {mode}, CUDA-graph skips "
                  f"{p.get('cudagraph_skips', 'n/a')}): "
                  f"{p['decode_tok_s']:.2f} tok/s = {frac:.1%} of the "
                  f"roofline counted as infernum counts it (one embedding "
                  f"row per token) at {p['copy_bandwidth_gb_s']:.1f} GB/s; "
                  f"infernum/peer = "
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
    # (the model runner cannot capture yet) and the CPU-only index checks
    # (backend_validation_test skips their cuda case by design).
    allowed = ("/CudaGraphsOn", "CpuChecksIndexValues/cuda")
    for name, t in summary["tests"].items():
        unexpected = [n for n in t["skipped_names"] if not n.endswith(allowed)]
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
