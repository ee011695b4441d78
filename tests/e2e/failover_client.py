"""Failover driver for tests/scripts/cluster_failover.sh.

  failover_client.py reference --url U --out REF.json
      Runs the workload uninterrupted (all workers healthy) and saves each
      request's full text: the reference.
  failover_client.py storm --url U --ref REF.json --signal KILL|TERM|STOP
                           --victims NAME=PID=HOST:PORT[,...] [--victim-out F]
                           [--grpc HOST:PORT,...] [--late N] [--label L]
      Runs the same workload (streaming, concurrently). Once tokens flow,
      sends the signal to the first victim worker that is running some of
      the streams (GetLoad; the router sometimes ejects a slow worker for a
      moment, so the victim is chosen when the signal is sent) and writes
      its name to F; a victim "router=PID=" is signalled while the workers
      at --grpc run streams. Then checks that every request got 200, a
      complete stream, and exactly the reference text. --late N also sends N of the requests again right
      after the signal (they must complete the same way).
  failover_client.py drain-queued --url U --pid ROUTER_PID --model-b M
      SIGTERM to the router while 3 of 4 streams of model M (a worker
      running one sequence at a time) wait for their first token: all 4
      must complete.
  failover_client.py until-served --url U --metrics M
      Sends short requests until the worker with /metrics at M serves one.

The workload: NUM streaming greedy completions of model A (ignore_eos, long
max_tokens so a signal lands mid-stream) plus a few of model B.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

import cluster_client as cc

SUBJECTS = ["a little dog", "a big cat", "Tom", "Lily", "a small bird", "the sun",
            "a red ball", "the old man", "a happy girl", "the tall tree"]
PLACES = ["in the park", "at home", "by the sea", "in the garden", "at school"]


def workload(args):
    reqs = []
    for i in range(args.num):
        s, p = SUBJECTS[i % len(SUBJECTS)], PLACES[(i // len(SUBJECTS)) % len(PLACES)]
        reqs.append({"model": args.model_a, "prompt": f"Once upon a time, {s} was {p}.",
                     "max_tokens": args.max_tokens})
    for i in range(args.num_b):
        reqs.append({"model": args.model_b, "prompt": f"{SUBJECTS[i]} and {PLACES[i % 5]}",
                     "max_tokens": args.max_tokens_b})
    for r in reqs:
        r.update(temperature=0, ignore_eos=True, stream_options={"include_usage": True})
    return reqs


def key(req):
    return req["model"] + "|" + req["prompt"]


def run_all(args, reqs, progress=None):
    def one(req):
        return lambda: cc.stream(args.url, "/v1/completions", req, on_event=progress)
    return cc.parallel([one(r) for r in reqs])


def validate(chk, label, reqs, results, ref):
    """Checks every result: 200, [DONE], no error, length, reference text."""
    bad = []
    for req, res in zip(reqs, results):
        usage = (res or {}).get("usage") or {}
        problems = []
        if "exception" in res:
            problems.append(res["exception"])
        else:
            if res["status"] != 200:
                problems.append(f"HTTP {res['status']} {res['body'][:200]}")
            if res["error"]:
                problems.append(f"error {res['error']}")
            if not res["done"]:
                problems.append("no [DONE]")
            if res["finish_reason"] != "length":
                problems.append(f"finish_reason {res['finish_reason']}")
            if usage.get("completion_tokens") != req["max_tokens"]:
                problems.append(f"completion_tokens {usage.get('completion_tokens')}")
            if ref is not None and res["text"] != ref[key(req)]:
                want = ref[key(req)]
                at = next((i for i, (a, b) in enumerate(zip(res["text"], want)) if a != b),
                          min(len(res["text"]), len(want)))
                problems.append(f"text differs at char {at}: got {res['text'][at:at+40]!r} "
                                f"want {want[at:at+40]!r} (len {len(res['text'])} vs {len(want)})")
        if problems:
            bad.append(f"{req['model']} {req['prompt']!r}: " + "; ".join(problems))
    chk.check(f"{label}: all {len(reqs)} requests complete with 200, [DONE], "
              f"finish_reason length, full usage" + (" and the reference text" if ref else ""),
              not bad, f"{len(bad)} bad; first: {bad[:3]}")
    return not bad


def cmd_reference(args):
    chk = cc.Checker()
    reqs = workload(args)
    results = run_all(args, reqs)
    ok = validate(chk, "reference run", reqs, results, None)
    if ok:
        json.dump({key(q): r["text"] for q, r in zip(reqs, results)}, open(args.out, "w"))
        texts = [r["text"] for r in results[:args.num]]
        chk.check(f"reference texts non-empty, mostly distinct ({len(set(texts))} distinct "
                  f"of {len(texts)}: a mixed-up stream would show)",
                  all(texts) and len(set(texts)) >= len(texts) // 2)
    chk.exit()


class Victims:
    """The processes a storm may signal: NAME=PID=HOST:PORT entries. A
    worker entry is its own gRPC address; the router entry ("router=PID=")
    names no address and is watched through the workers listed in --grpc."""

    def __init__(self, args):
        self.entries = []
        for item in args.victims.split(","):
            name, pid, addr = item.split("=", 2)
            self.entries.append((name, int(pid), addr))
        watch = [a for _, _, a in self.entries if a] or args.grpc.split(",")
        self.rpcs = {a: cc.WorkerRpc(a) for a in watch}

    def running(self, state):
        """{address: requests running there now} (GetLoad)."""
        out = {}
        for addr, rpc in self.rpcs.items():
            try:
                out[addr] = rpc.load(timeout=5)["running"]
            except Exception as e:  # noqa: BLE001 - keep polling, report it
                out[addr] = 0
                state["load_error"] = repr(e)[:300]
        return out

    def pick(self, running):
        """The first entry that runs requests (a worker running some, or the
        router while any watched worker does); None if none."""
        for name, pid, addr in self.entries:
            if (running.get(addr, 0) if addr else sum(running.values())) > 0:
                return name, pid, addr
        return None

    def close(self):
        for rpc in self.rpcs.values():
            rpc.channel.close()


def signal_when_streaming(args, reqs, state):
    """Waits until a victim runs some of our requests and tokens flow, then
    signals it and writes its name to --victim-out. Records what was in
    flight at that moment in `state`."""
    victims = Victims(args)
    deadline = time.time() + 300
    chosen = None
    running = {}
    while time.time() < deadline:
        running = victims.running(state)
        with state["lock"]:
            streaming, finished = state["streaming"], state["finished"]
        if finished == len(reqs):
            break  # Too late: the check in cmd_storm reports it.
        chosen = victims.pick(running)
        if chosen and streaming >= min(args.num // 4, 8):
            break
        time.sleep(0.02)
    name, pid, addr = chosen or victims.entries[0]
    state["victim"] = name
    state["victim_running"] = running.get(addr, 0) if addr else sum(running.values())
    os.kill(pid, getattr(signal, "SIG" + args.signal))
    with state["lock"]:
        state["unfinished_at_signal"] = len(reqs) - state["finished"]
    victims.close()
    if args.victim_out:
        with open(args.victim_out, "w") as f:
            f.write(name + "\n")
    if args.late:
        # New requests while the victim drains / stalls / is gone.
        late = reqs[:args.late]
        state["late"] = (late, run_all(args, late))


def cmd_storm(args):
    chk = cc.Checker()
    ref = json.load(open(args.ref))
    reqs = workload(args)
    state = {"lock": threading.Lock(), "streaming": 0, "finished": 0, "seen": set()}

    def progress(res):
        with state["lock"]:
            if id(res) not in state["seen"] and res["chunks"] >= 3:
                state["seen"].add(id(res))
                state["streaming"] += 1
            if res["finish_reason"] and ("f", id(res)) not in state["seen"]:
                state["seen"].add(("f", id(res)))
                state["finished"] += 1

    killer = threading.Thread(target=signal_when_streaming, args=(args, reqs, state), daemon=True)
    killer.start()
    t0 = time.time()
    results = run_all(args, reqs, progress)
    killer.join(timeout=600)
    print(f"{args.label}: {len(reqs)} streams in {time.time() - t0:.1f}s; SIG{args.signal} "
          f"to {state.get('victim')} while it ran {state.get('victim_running')} of them and "
          f"{state.get('unfinished_at_signal')} were unfinished; GetLoad error "
          f"{state.get('load_error')}", flush=True)
    chk.check(f"{args.label}: SIG{args.signal} sent to {state.get('victim')} while it generated "
              "for our streams",
              state.get("victim_running", 0) > 0 and state.get("unfinished_at_signal", 0) > 0,
              {k: state.get(k) for k in ("victim", "victim_running", "unfinished_at_signal",
                                         "streaming", "finished", "load_error")})
    validate(chk, args.label, reqs, results, ref)
    if args.late:
        late, late_results = state.get("late", ([], []))
        chk.check(f"{args.label}: {args.late} requests sent after the signal ran",
                  len(late_results) == args.late)
        validate(chk, f"{args.label}, sent after the signal", late, late_results, ref)
    chk.exit()


def served_count(metrics_url):
    """A worker's request_success_total (None without a URL or on error)."""
    if not metrics_url:
        return None
    _, m, _ = cc.scrape(metrics_url)
    return m.value("infernum:request_success_total") if m else None


def cmd_drain_queued(args):
    """4 streams of --model-b on a worker that runs one at a time; SIGTERM to
    --pid (the router) once the first streams tokens: all 4 must complete."""
    chk = cc.Checker()
    body = {"model": args.model_b, "prompt": "Once upon a time", "max_tokens": 300,
            "ignore_eos": True, "temperature": 0, "stream_options": {"include_usage": True}}
    started = threading.Event()

    def on_event(res):
        if res["chunks"] >= 3:
            started.set()
    out = [None] * 4

    def one(i):
        out[i] = cc.stream(args.url, "/v1/completions", body, on_event=on_event)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    chk.check("first stream started", started.wait(120))
    os.kill(args.pid, signal.SIGTERM)
    for t in threads:
        t.join()
    summary = [(r["status"], r["done"], r["finish_reason"],
                (r["usage"] or {}).get("completion_tokens"), r["error"]) for r in out]
    chk.check(f"all 4 streams (3 were queued at SIGTERM) complete: {summary}",
              all(r["status"] == 200 and r["done"] and r["finish_reason"] == "length"
                  and (r["usage"] or {}).get("completion_tokens") == 300 for r in out))
    chk.exit()


def cmd_until_served(args):
    """Sends short requests through the router (one at a time) until the
    worker whose /metrics is at --metrics counts one more success: the
    router routes to it again. Exits 1 after 90 s."""
    def served():
        return served_count(args.metrics)
    start = cc.wait_until(lambda: served() is not None, 30, 0.2) and served()
    deadline = time.time() + 90
    sent = 0
    while start is not None and time.time() < deadline:
        cc.call(args.url, "POST", "/v1/completions",
                {"model": args.model_a, "prompt": "Once", "max_tokens": 2})
        sent += 1
        if (served() or 0) > start:
            print(f"worker served a request after {sent} sent", flush=True)
            return
    print(f"worker never served any of {sent} requests", flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["reference", "storm", "until-served", "drain-queued"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--model-a", default="stories260K")
    ap.add_argument("--model-b", default="rand")
    ap.add_argument("--num", type=int, default=50)
    ap.add_argument("--num-b", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--max-tokens-b", type=int, default=64)
    ap.add_argument("--out")
    ap.add_argument("--ref")
    ap.add_argument("--signal", choices=["KILL", "TERM", "STOP"])
    ap.add_argument("--pid", type=int, help="drain-queued: the router's pid")
    ap.add_argument("--victims", help="storm: NAME=PID=HOST:PORT,... (router: NAME=PID=)")
    ap.add_argument("--grpc", help="storm: workers to watch when the victim is the router")
    ap.add_argument("--victim-out", help="storm: file that receives the signalled name")
    ap.add_argument("--metrics", help="until-served: the worker's metrics URL")
    ap.add_argument("--label", default="storm")
    ap.add_argument("--late", type=int, default=0,
                    help="storm: also send this many requests right after the signal")
    args = ap.parse_args()
    # Many client threads parse SSE under the GIL; switch often so that the
    # thread watching the victim is not starved.
    sys.setswitchinterval(0.0005)
    {"reference": cmd_reference, "storm": cmd_storm, "until-served": cmd_until_served,
     "drain-queued": cmd_drain_queued}[args.cmd](args)


if __name__ == "__main__":
    main()
