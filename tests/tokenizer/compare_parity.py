#!/usr/bin/python3
"""Compares Infernum's tokenizer output with Hugging Face's (parity test).

  compare_parity.py <corpus.jsonl> <out_dir> <name> ...

Reads <out_dir>/<name>.ref.jsonl (hf_encode.mjs: HF's Rust tokenizers, and
tokenizers.js cross-check in <name>.refdiff.jsonl) and <name>.ours.jsonl
(tokenize_corpus). Checks per corpus string:
  - ids (add_special_tokens false) and ids_special (true) are identical;
  - decode of ids_special (skip_special_tokens false / true) is identical;
  - round trip: decode(encode(x)) == x wherever HF's own decode gives x back;
    where it does not (e.g. NFC normalization), ours must equal HF's text;
  - decoded text with clean_up_tokenization_spaces equals transformers' rule
    applied by tokenizers.js;
  - the incremental detokenizer's pieces concatenate to the full decode.
Random id lists (<name>.randids.jsonl vs <name>.ours_rand.jsonl) must decode
identically too, and stream exactly where the decode has no U+FFFD. Prints a summary and exits 1 on any mismatch.
"""
import json
import sys


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def short(s, n=80):
    r = json.dumps(s, ensure_ascii=True)
    return r if len(r) <= n else r[:n] + "..."


def compare(name, corpus, out_dir):
    ref = read_lines(f"{out_dir}/{name}.ref.jsonl")
    ours = read_lines(f"{out_dir}/{name}.ours.jsonl")
    refdiff = read_lines(f"{out_dir}/{name}.refdiff.jsonl")
    js_disagrees = {d["index"] for d in refdiff}
    assert len(ref) == len(ours) == len(corpus), f"{name}: line counts differ"
    failures = []
    counts = {"ids": 0, "decode": 0, "roundtrip": 0, "cleanup": 0, "stream": 0}
    not_round_trip = []
    for i, (text, r, o) in enumerate(zip(corpus, ref, ours)):
        for key in ("ids", "ids_special"):
            if r[key] != o[key]:
                counts["ids"] += 1
                failures.append(f"[{i}] {key} differ for {short(text)}:\n"
                                f"    hf   {r[key][:40]}\n    ours {o[key][:40]}")
        for key in ("decoded", "decoded_skip"):
            if r[key] != o[key]:
                counts["decode"] += 1
                failures.append(f"[{i}] {key}: hf {short(r[key])} ours {short(o[key])}")
        if r["decoded_plain"] == text:
            if o["decoded_plain"] != text:
                counts["roundtrip"] += 1
                failures.append(f"[{i}] round trip: {short(text)} -> {short(o['decoded_plain'])}")
        else:
            not_round_trip.append(i)
            if o["decoded_plain"] != r["decoded_plain"]:
                counts["roundtrip"] += 1
                failures.append(f"[{i}] non-round-trip text differs: hf {short(r['decoded_plain'])}"
                                f" ours {short(o['decoded_plain'])}")
        if i not in js_disagrees and r["decoded_cleanup"] != o["decoded_cleanup"]:
            counts["cleanup"] += 1
            failures.append(f"[{i}] cleanup: hf {short(r['decoded_cleanup'])}"
                            f" ours {short(o['decoded_cleanup'])}")
        if not (o["stream_ok"] and o["stream_skip_ok"]):
            counts["stream"] += 1
            failures.append(f"[{i}] incremental detokenizer pieces != decode for {short(text)}")
    rand_total = 0
    try:
        rref = read_lines(f"{out_dir}/{name}.randids.jsonl")
        rours = read_lines(f"{out_dir}/{name}.ours_rand.jsonl")
        rand_total = len(rref)
        for k, (r, o) in enumerate(zip(rref, rours)):
            if r["decoded"] != o["decoded"] or r["decoded_skip"] != o["decoded_skip"]:
                counts["decode"] += 1
                failures.append(f"[rand {k}] ids {r['ids'][:12]}: hf {short(r['decoded'])}"
                                f" ours {short(o['decoded'])}")
            # HF's ByteFallback turns a whole invalid byte run into U+FFFDs,
            # which no streaming decoder can anticipate: only lists whose
            # decode is clean must stream exactly.
            if not o["stream_ok"] and "\ufffd" not in r["decoded"]:
                counts["stream"] += 1
                failures.append(f"[rand {k}] incremental pieces != decode, ids {r['ids'][:12]}")
        if len(rref) != len(rours):
            counts["decode"] += 1
            failures.append("random-id decode line counts differ")
    except FileNotFoundError:
        pass
    total = sum(counts.values())
    print(f"{name:12s} {len(corpus)} strings, {rand_total} random id lists: "
          + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"  | HF itself does not round-trip: {len(not_round_trip)}"
          + (f" {not_round_trip[:12]}" if not_round_trip else "")
          + f"  | js/rust refs disagree: {len(refdiff)}")
    for f in failures[:15]:
        print("   ", f)
    return total


def main():
    corpus_path, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    corpus = read_lines(corpus_path)
    results = {n: compare(n, corpus, out_dir) for n in names}
    failed = [n for n, v in results.items() if v]
    print(f"tokenizer parity: {len(names)} tokenizers, {sum(results.values())} mismatches"
          + (f" (in {', '.join(failed)})" if failed else ""))
    print(f"{len(names) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
