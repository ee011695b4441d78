#!/usr/bin/python3
"""Black-box check of infernum-worker from a Python gRPC client.

Generates the Python stubs from proto/ at run time (Debian's protoc and
grpc_python_plugin; python3-grpc-tools bundles protoc 3.5, which predates
proto3 `optional`), starts the worker binary on stories260K, and checks
health, GetModelInfo, GetLoad, errors, cancellation, SIGTERM and bad
configs. Greedy output must equal `infernum generate --temperature 0` token
for token (the CLI prints each token id with --logprobs 0) and as text.

usage: worker_grpc_check.py --worker BIN --cli BIN --model DIR --proto-root DIR
Exits non-zero on the first failure.
"""
import argparse
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROMPTS = ["Once upon a time", "The little dog", "Lily wanted to"]
MAX_TOKENS = 300


def fail(message):
    print("FAIL " + message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok   " + message)


def build_stubs(proto_root, out_dir):
    """Compiles worker.proto and health.proto; returns the modules."""
    src = os.path.join(out_dir, "src")
    os.makedirs(os.path.join(src, "infernum", "v1"))
    os.makedirs(os.path.join(src, "infernum_health"))
    shutil.copy(os.path.join(proto_root, "infernum", "v1", "worker.proto"),
                os.path.join(src, "infernum", "v1"))
    # Compiled under another path so the module does not shadow the real
    # `grpc` package (the proto package, hence the service name, is kept).
    shutil.copy(os.path.join(proto_root, "grpc", "health", "v1", "health.proto"),
                os.path.join(src, "infernum_health"))
    gen = os.path.join(out_dir, "gen")
    os.makedirs(gen)
    subprocess.run(["/usr/bin/protoc", "-I" + src, "--python_out=" + gen,
                    "--grpc_python_out=" + gen,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    "infernum/v1/worker.proto", "infernum_health/health.proto"],
                   check=True)
    sys.path.insert(0, gen)
    mods = {}
    for name in ["infernum.v1.worker_pb2", "infernum.v1.worker_pb2_grpc",
                 "infernum_health.health_pb2", "infernum_health.health_pb2_grpc"]:
        mods[name.split(".")[-1]] = importlib.import_module(name)
    return mods


def start_worker(worker_bin, args, log_path):
    """Starts the worker; returns (process, port) once it prints its line."""
    log = open(log_path, "w")
    proc = subprocess.Popen([worker_bin] + args, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()  # Blocks until the readiness line or exit.
    if not line.startswith("infernum-worker listening on "):
        proc.kill()
        fail("worker did not start: %r; stderr: %s" % (line, open(log_path).read()))
    address = line.split()[3]
    return proc, int(address.rsplit(":", 1)[1])


def cli_greedy(cli, model, prompt):
    """Token ids and text of `infernum generate --temperature 0`."""
    out = subprocess.run([cli, "generate", "--model", model, "--prompt", prompt,
                          "--max-tokens", str(MAX_TOKENS), "--temperature", "0",
                          "--threads", "1", "--logprobs", "0"],
                         capture_output=True, text=True, check=True)
    ids = [json.loads(l)["token"] for l in out.stderr.splitlines() if l.startswith("{")]
    return ids, out.stdout.rstrip("\n")


def cli_json_filter(cli, command, model, value, *flags):
    out = subprocess.run([cli, command, "--model", model] + list(flags),
                         input=json.dumps(value) + "\n", capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def generate(stub, pb, request_id, prompt_ids, max_tokens, **kwargs):
    req = pb.GenerateRequest(request_id=request_id, prompt_token_ids=prompt_ids,
                             max_tokens=max_tokens, **kwargs)
    ids, finals = [], []
    for msg in stub.Generate(req, timeout=60):
        if msg.HasField("chunk"):
            if finals:
                fail("%s: a chunk arrived after the final message" % request_id)
            ids.extend(t.token_id for t in msg.chunk.tokens)
        else:
            finals.append(msg.final)
    if len(finals) != 1:
        fail("%s: %d final messages" % (request_id, len(finals)))
    return ids, finals[0]


def check_generation(stub, pb, cli, model, stop_ids):
    reasons = set()
    for i, prompt in enumerate(PROMPTS):
        prompt_ids = cli_json_filter(cli, "tokenize", model, prompt)
        ids, final = generate(stub, pb, "py-%d" % i, prompt_ids, MAX_TOKENS,
                              sampling=pb.SamplingParams(temperature=0.0),
                              stop_token_ids=stop_ids)
        stopped = final.finish_reason == pb.FINISH_REASON_STOP
        all_ids = ids + ([final.stop_token_id] if stopped else [])
        want_ids, want_text = cli_greedy(cli, model, prompt)
        reason = pb.FinishReason.Name(final.finish_reason)
        # The CLI prints the stop token's line or not depending on its
        # version (SimpleGenerate did, the engine does not stream it).
        check(want_ids in (ids, all_ids), "greedy ids equal the CLI's for %r (%d tokens, %s)"
              % (prompt, len(ids), reason))
        check(final.prompt_tokens == len(prompt_ids) and
              final.completion_tokens == len(all_ids), "usage counts for %r" % prompt)
        full = cli_json_filter(cli, "detokenize", model, prompt_ids + ids,
                               "--skip-special-tokens")
        head = cli_json_filter(cli, "detokenize", model, prompt_ids, "--skip-special-tokens")
        check(full.startswith(head) and full[len(head):] == want_text,
              "completion text equals the CLI's for %r" % prompt)
        reasons.add(final.finish_reason)
    check(pb.FINISH_REASON_STOP in reasons, "at least one story ended on a stop token")


def check_errors(stub, pb, grpc):
    def code_of(**kwargs):
        try:
            generate(stub, pb, "bad", [1, 300], 5, **kwargs)
        except grpc.RpcError as e:
            return e.code()
        return grpc.StatusCode.OK
    check(code_of(sampling=pb.SamplingParams(temperature=-1.0)) ==
          grpc.StatusCode.INVALID_ARGUMENT, "negative temperature -> INVALID_ARGUMENT")
    try:
        generate(stub, pb, "long", [300] * 500, 100)
        fail("too long prompt accepted")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.OUT_OF_RANGE and "512" in e.details(),
              "prompt + max_tokens over the context -> OUT_OF_RANGE (%s)" % e.details())


def wait_idle(stub, pb):
    for _ in range(500):
        load = stub.GetLoad(pb.GetLoadRequest(), timeout=10)
        if load.num_running == 0 and load.num_waiting == 0 and load.num_blocks_used == 0:
            return load
        time.sleep(0.02)
    return load


def check_service(mods, port, args, grpc):
    pb, pbg = mods["worker_pb2"], mods["worker_pb2_grpc"]
    hpb, hpbg = mods["health_pb2"], mods["health_pb2_grpc"]
    channel = grpc.insecure_channel("127.0.0.1:%d" % port,
                                    options=[("grpc.max_receive_message_length", 256 << 20)])
    health = hpbg.HealthStub(channel).Check(hpb.HealthCheckRequest(service=""), timeout=10)
    check(health.status == hpb.HealthCheckResponse.SERVING, "health is SERVING")
    stub = pbg.WorkerStub(channel)
    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    with open(os.path.join(args.model, "tokenizer.json"), "rb") as f:
        check(info.tokenizer_json == f.read(), "ModelInfo.tokenizer_json is the file")
    check(info.model_id == "stories260K" and info.vocab_size == 512 and
          info.max_context_length == 512 and info.max_num_seqs == 8,
          "ModelInfo fields (max_num_seqs from the flag over the YAML)")
    stop_ids = list(info.eos_token_ids) + list(info.extra_stop_token_ids)
    check_generation(stub, pb, args.cli, args.model, stop_ids)
    check_errors(stub, pb, grpc)
    stream = stub.Generate(pb.GenerateRequest(request_id="cancel", prompt_token_ids=[1],
                                              max_tokens=500, ignore_eos=True), timeout=60)
    next(stream)
    stream.cancel()
    load = wait_idle(stub, pb)
    check(load.num_running == 0 and load.num_blocks_used == 0 and load.num_blocks_total > 0,
          "after a cancelled stream GetLoad shows no running request and no used block")
    channel.close()


def check_bad_configs(worker_bin, tmp):
    bad_yaml = os.path.join(tmp, "bad.yaml")
    with open(bad_yaml, "w") as f:
        f.write("model: /x\nmax_num_seq: 4\n")
    for argv in (["--model", "/nonexistent"], ["--config", bad_yaml],
                 ["--model", "/x", "--block-size", "0"], ["--bogus-flag"]):
        p = subprocess.run([worker_bin] + argv, capture_output=True, text=True, timeout=60)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1,
              "bad config %s -> exit 2 with one line (%s)" % (argv, lines[:1]))


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--worker", "--cli", "--model", "--proto-root"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    import grpc  # python3-grpcio
    tmp = tempfile.mkdtemp(prefix="worker_py_")
    try:
        mods = build_stubs(args.proto_root, tmp)
        config = os.path.join(tmp, "worker.yaml")
        with open(config, "w") as f:
            f.write("model: %s\nlisten: 127.0.0.1:0\nthreads: 1\nkv_cache_memory: 4MiB\n"
                    "max_num_seqs: 32\nshutdown_grace_seconds: 10\n" % args.model)
        proc, port = start_worker(args.worker, ["--config", config, "--max-num-seqs", "8"],
                                  os.path.join(tmp, "worker.log"))
        try:
            check_service(mods, port, args, grpc)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
        check(rc == 0, "SIGTERM -> clean exit 0 (got %s)" % rc)
        check_bad_configs(args.worker, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("worker_grpc_check: all checks passed")


if __name__ == "__main__":
    main()
