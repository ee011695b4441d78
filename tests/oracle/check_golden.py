#!/usr/bin/python3
"""Checks llama_oracle.py against the stories260K golden values documented in
shared/models/README.md. Exits 0 when every check passes, 1 otherwise.

  check_golden.py [--model DIR]   (default: $INFERNUM_SHARED/models/stories260K,
                                   INFERNUM_SHARED defaulting to /work/shared)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_oracle  # noqa: E402

TOL = 1e-4
# From shared/models/README.md, "Golden values".
STEP1_TOKENS = [1]
STEP1_HEAD = [-6.222910, 8.404343, -6.223736, -6.222541, -6.221949]
STEP1_ARGMAX, STEP1_MAX = 403, 17.023518
PROMPT_TOKENS = [1, 403, 407, 261, 378]  # "Once upon a time"
PROMPT_HEAD = [-10.136572, -5.329466, -10.138083, -10.136851, -10.137210]
PROMPT_ARGMAX, PROMPT_MAX = 432, 17.799398
CONTINUATION = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267,
                337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432]


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what):
        print(("PASS " if ok else "FAIL ") + what)
        self.failures += 0 if ok else 1

    def close(self, got, want, what):
        err = max(abs(g - w) for g, w in zip(got, want))
        self.check(len(got) == len(want) and err <= TOL,
                   f"{what}: max |diff| = {err:.2e} (tol {TOL:g})")


def check_last_position(c, prompt, head, argmax, maxval, name):
    logits = prompt["logits"][-1]
    c.close(logits[:5], head, f"{name} logits[0:5]")
    got_argmax = max(range(len(logits)), key=logits.__getitem__)
    c.check(got_argmax == argmax, f"{name} argmax = {got_argmax} (want {argmax})")
    c.close([logits[got_argmax]], [maxval], f"{name} max logit {logits[got_argmax]:.6f}")


def main():
    shared = os.environ.get("INFERNUM_SHARED") or "/work/shared"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(shared, "models", "stories260K"))
    args = ap.parse_args()
    c = Checker()

    # 1. Through the CLI, as other tools use it.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.json")
        cmd = [sys.executable, os.path.join(HERE, "llama_oracle.py"), "--model", args.model,
               "--tokens", " ".join(map(str, STEP1_TOKENS)),
               "--tokens", " ".join(map(str, PROMPT_TOKENS)), "--out", out]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        with open(out) as f:
            result = json.load(f)
    step1, prompt = result["prompts"]
    c.check(len(prompt["logits"]) == len(PROMPT_TOKENS) and
            all(len(row) == 512 for row in prompt["logits"]), "one 512-logit row per position")
    check_last_position(c, step1, STEP1_HEAD, STEP1_ARGMAX, STEP1_MAX, "step 1 (BOS)")
    check_last_position(c, prompt, PROMPT_HEAD, PROMPT_ARGMAX, PROMPT_MAX, "after prompt")

    # 2. Greedy continuation of the prompt (exercises RoPE up to position 34).
    torch.set_grad_enabled(False)
    cfg, weights = llama_oracle.load_model(args.model)
    tokens = list(PROMPT_TOKENS)
    for _ in CONTINUATION:
        tokens.append(int(llama_oracle.forward(cfg, weights, tokens)[-1].argmax()))
    got = tokens[len(PROMPT_TOKENS):]
    c.check(got == CONTINUATION, f"30 greedy tokens after the prompt: {' '.join(map(str, got))}")

    print("OK" if c.failures == 0 else f"{c.failures} check(s) FAILED")
    return 0 if c.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
