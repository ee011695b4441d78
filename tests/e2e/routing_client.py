"""Routing-policy driver for tests/scripts/cluster_routing.sh.

  routing_client.py --prefix-url U --rr-url U --ll-url U
                    --metrics M1,M2,M3 --grpc G1,G2,G3

Three stories260K workers (each with /metrics at Mi and gRPC at Gi) behind
three routers on the same workers: prefix_aware (balance_abs_threshold 2),
round_robin and least_load. Which worker served a request is read from the
workers' counters (infernum:request_success_total, prefix_cache_hits_total):
a worker's count grows only with the requests it ran.

Checks:
  1. prefix_aware, even load (requests one at a time): every request with
     the same long prefix lands on one worker, and that worker's prefix
     cache hits grow; two prefixes both stay together.
  2. round_robin, same traffic (control): the requests spread, so the check
     in 1 can fail.
  3. prefix_aware, one worker saturated: many concurrent long requests with
     a prefix cached on worker X spread to other workers too.
  4. least_load: worker 1 is kept busy by direct gRPC streams (not through
     the router); requests sent through the router then all avoid it.
"""
import argparse
import random
import time

import cluster_client as cc

WORDS = ("Lily Tom Sue Ben the a little big red blue happy sad dog cat bird tree ball park "
         "house sun moon friend mom dad garden toy boat car cake flower fish box hat").split()
VERBS = "saw liked found played wanted gave had made took loved".split()


def story_prefix(seed, sentences=16):
    """About 235 stories260K tokens of TinyStories-like text, one per seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        out.append(f"{rng.choice(WORDS).capitalize()} {rng.choice(VERBS)} "
                   f"{rng.choice(WORDS)} {rng.choice(WORDS)} and {rng.choice(WORDS)}.")
    return " ".join(out)


class Fleet:
    """The workers' counters, read before and after a phase."""

    def __init__(self, metrics_urls):
        self.urls = metrics_urls

    def snapshot(self):
        snap = []
        for u in self.urls:
            _, m, err = cc.scrape(u)
            if m is None:
                raise RuntimeError(f"scrape {u}: {err}")
            snap.append({"requests": m.value("infernum:request_success_total"),
                         "hits": m.value("infernum:prefix_cache_hits_total")})
        return snap

    @staticmethod
    def delta(before, after, field):
        return [a[field] - b[field] for a, b in zip(after, before)]


def complete(url, prompt, max_tokens=8, stream=False):
    body = {"model": "stories260K", "prompt": prompt, "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True}
    if stream:
        return cc.stream(url, "/v1/completions", body)
    r = cc.call(url, "POST", "/v1/completions", body)
    return {"status": r.status, "body": r.body}


def sequential(url, prefix, num, tag):
    statuses = []
    for i in range(num):
        statuses.append(complete(url, f"{prefix} Then {tag} number {i} said")["status"])
    return statuses


def settle(fleet, before, expected, which=None, timeout_s=60):
    """Snapshots until the request counters of the workers `which` (default
    all) grew by `expected` in total (a request's success is counted when
    its stream ends, possibly just after the HTTP reply); the last snapshot
    on timeout."""
    which = which or range(len(fleet.urls))

    def grown():
        snap = fleet.snapshot()
        d = Fleet.delta(before, snap, "requests")
        return snap if sum(d[i] for i in which) >= expected else None
    return cc.wait_until(grown, timeout_s, 0.2) or fleet.snapshot()


def check_affinity(chk, fleet, url, label, expect_together):
    num = 6
    for p in (101, 202):
        before = fleet.snapshot()
        statuses = sequential(url, story_prefix(p), num, label)
        after = settle(fleet, before, num)
        reqs = Fleet.delta(before, after, "requests")
        hits = Fleet.delta(before, after, "hits")
        chk.check(f"{label} prefix {p}: {num} requests all 200", statuses == [200] * num, statuses)
        together = sorted(reqs)[-1] == num and sum(reqs) == num
        if expect_together:
            chk.check(f"{label} prefix {p}: all {num} on one worker (per-worker {reqs})",
                      together, reqs)
            busiest = reqs.index(max(reqs))
            chk.check(f"{label} prefix {p}: that worker's prefix cache hits grew by >= "
                      f"{(num - 1) * 128} tokens (per-worker {hits})",
                      hits[busiest] >= (num - 1) * 128, hits)
        else:
            chk.check(f"{label} prefix {p}: spread over >= 2 workers (per-worker {reqs})",
                      sum(1 for r in reqs if r > 0) >= 2, reqs)


def check_saturation_spread(chk, fleet, url):
    prefix = story_prefix(101)  # Cached on one worker by check 1.
    num = 12
    before = fleet.snapshot()
    results = cc.parallel([
        (lambda i=i: complete(url, f"{prefix} Later kid {i} ran", max_tokens=200, stream=True))
        for i in range(num)])
    after = settle(fleet, before, num)
    reqs = Fleet.delta(before, after, "requests")
    ok = [r.get("status") == 200 and r.get("finish_reason") == "length" for r in results]
    chk.check(f"prefix_aware saturated: {num} concurrent requests all complete", all(ok),
              [r.get("status") for r in results])
    chk.check(f"prefix_aware saturated: load spreads over >= 2 workers (per-worker {reqs})",
              sum(1 for r in reqs if r > 0) >= 2 and max(reqs) < num, reqs)


def check_least_load(chk, fleet, url, grpc_addrs):
    busy = cc.WorkerRpc(grpc_addrs[0])
    try:
        busy.hold(160, list(range(10, 110)), max_tokens=400)
        loaded = cc.wait_until(lambda: busy.load()["waiting"] > 0 and busy.load(), 60, 0.1)
        chk.check(f"least_load: worker 1 busy with direct gRPC streams ({loaded})", bool(loaded))
        time.sleep(3)  # Several router load polls (refresh_interval_s 0.2).
        num = 8
        before = fleet.snapshot()
        statuses = sequential(url, "Tom and Lily", num, "least_load")
        after = settle(fleet, before, num, which=[1, 2])
        still = busy.load()
    finally:
        busy.close()
    reqs = Fleet.delta(before, after, "requests")
    chk.check(f"least_load: {num} requests all 200", statuses == [200] * num, statuses)
    chk.check(f"least_load: worker 1 still busy at the end ({still})", still["running"] > 0)
    chk.check(f"least_load: all {num} went to workers 2 and 3 (per-worker {reqs}, "
              f"worker 1's count also moves with its own gRPC streams)",
              reqs[1] + reqs[2] == num, reqs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix-url", required=True)
    ap.add_argument("--rr-url", required=True)
    ap.add_argument("--ll-url", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--grpc", required=True)
    args = ap.parse_args()
    chk = cc.Checker()
    fleet = Fleet(args.metrics.split(","))
    check_affinity(chk, fleet, args.prefix_url, "prefix_aware", True)
    check_affinity(chk, fleet, args.rr_url, "round_robin (control)", False)
    check_saturation_spread(chk, fleet, args.prefix_url)
    check_least_load(chk, fleet, args.ll_url, args.grpc.split(","))
    chk.exit()


if __name__ == "__main__":
    main()
