"""Metrics driver for tests/scripts/cluster_metrics.sh.

  metrics_client.py --url ROUTER --workers M1,M2 --worker-addrs A1,A2

Scrapes the router's and every worker's /metrics (parsed with Debian's
python3-prometheus-client), serves a known set of requests, scrapes again
and checks that the counters moved by exactly what the responses report:
worker generation / prompt tokens = the usage totals, request_success_total
by finish reason, histogram counts = requests, router requests_total by
status; gauges show a running request while one streams and drop to 0.
"""
import argparse

import cluster_client as cc

MODEL = "stories260K"
WORKER_FAMILIES = {
    "infernum:num_requests_running": "gauge", "infernum:num_requests_waiting": "gauge",
    "infernum:kv_cache_usage_perc": "gauge", "infernum:prompt_tokens": "counter",
    "infernum:generation_tokens": "counter", "infernum:num_preemptions": "counter",
    "infernum:prefix_cache_queries": "counter", "infernum:prefix_cache_hits": "counter",
    "infernum:request_success": "counter",
    "infernum:time_to_first_token_seconds": "histogram",
    "infernum:inter_token_latency_seconds": "histogram",
    "infernum:e2e_request_latency_seconds": "histogram",
    "infernum:request_queue_time_seconds": "histogram",
}
ROUTER_FAMILIES = {
    "infernum_router:requests": "counter", "infernum_router:worker_in_flight": "gauge",
    "infernum_router:worker_healthy": "gauge", "infernum_router:retries": "counter",
    "infernum_router:migrations": "counter", "infernum_router:stalls": "counter",
    "infernum_router:queued_requests": "gauge",
    "infernum_router:time_to_first_token_seconds": "histogram",
    "infernum_router:inter_token_latency_seconds": "histogram",
    "infernum_router:e2e_request_latency_seconds": "histogram",
}
NUM_STREAMED = 4  # Streamed requests in workload().
LONG_PROMPT = " ".join(["Lily and Tom played with a big red ball in the park."] * 14)


def scrape_ok(chk, url, what):
    r, m, err = cc.scrape(url)
    chk.check(f"{what}: /metrics 200, text/plain, parses ({err})",
              m is not None and r.headers.get("content-type", "").startswith("text/plain"),
              f"{r.status} {r.headers.get('content-type')} {r.body[:300]}")
    return m


def check_families(chk, m, expected, what, label=None):
    for name, typ in expected.items():
        f = m.family(name)
        chk.check(f"{what}: {name} is a {typ}", f is not None and f.type == typ,
                  f.type if f else "absent")
    if label:
        unlabelled = [s.name for s in m.samples if s.name.startswith("infernum:")
                      and s.labels.get(label) != MODEL]
        chk.check(f"{what}: every infernum: sample has {label}=\"{MODEL}\"", not unlabelled,
                  unlabelled[:5])


def workload(url):
    """Serves a mix of requests; returns their usages and finish reasons."""
    base = {"model": MODEL, "temperature": 0, "ignore_eos": True}
    out = []
    for n in (7, 9, 11):
        r = cc.call(url, "POST", "/v1/completions", dict(base, prompt=f"Tom had {n} cats", max_tokens=n))
        j = r.json() or {}
        out.append((r.status, j.get("usage"), (j.get("choices") or [{}])[0].get("finish_reason")))
    for n in (5, 6, 13):
        s = cc.stream(url, "/v1/completions", dict(base, prompt=f"Sue saw {n} birds", max_tokens=n,
                                                   stream_options={"include_usage": True}))
        out.append((s["status"], s["usage"], s["finish_reason"]))
    chat = dict(base, messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=8)
    r = cc.call(url, "POST", "/v1/chat/completions", chat)
    j = r.json() or {}
    out.append((r.status, j.get("usage"), (j.get("choices") or [{}])[0].get("finish_reason")))
    s = cc.stream(url, "/v1/chat/completions", dict(chat, max_tokens=4,
                                                   stream_options={"include_usage": True}))
    out.append((s["status"], s["usage"], s["finish_reason"]))
    # Ends on its own (stories260K emits BOS at a story's end): "stop".
    r = cc.call(url, "POST", "/v1/completions", {"model": MODEL, "temperature": 0,
                                                 "prompt": "Once upon a time", "max_tokens": 480})
    j = r.json() or {}
    out.append((r.status, j.get("usage"), (j.get("choices") or [{}])[0].get("finish_reason")))
    # The same long prompt 4 times: with round robin each worker sees it
    # twice, the second time from its prefix cache.
    for _ in range(4):
        r = cc.call(url, "POST", "/v1/completions", dict(base, prompt=LONG_PROMPT, max_tokens=3))
        j = r.json() or {}
        out.append((r.status, j.get("usage"), (j.get("choices") or [{}])[0].get("finish_reason")))
    return out


def total(ms, name, **labels):
    return sum(m.value(name, **labels) for m in ms)


def check_gauges_while_streaming(chk, args, workers):
    """One long stream in flight: running >= 1 and KV usage > 0 on some
    worker; router in-flight >= 1."""
    held = [None]
    seen = {}

    def on_event(res):
        if res["chunks"] >= 3 and not seen:
            ws = [cc.scrape(u)[1] for u in workers]
            seen["running"] = total(ws, "infernum:num_requests_running")
            seen["kv"] = max(w.value("infernum:kv_cache_usage_perc") for w in ws)
            _, rm, _ = cc.scrape(args.url)
            seen["router_in_flight"] = rm.value("infernum_router:worker_in_flight") if rm else None
    held[0] = cc.stream(args.url, "/v1/completions", {
        "model": MODEL, "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True,
        "temperature": 0}, on_event=on_event)
    chk.check(f"the streaming request completes ({held[0]['status']})",
              held[0]["status"] == 200 and held[0]["finish_reason"] == "length", held[0])
    chk.check(f"while a request streams: workers' num_requests_running >= 1, "
              f"kv_cache_usage_perc in (0, 1], router worker_in_flight >= 1 ({seen})",
              seen.get("running", 0) >= 1 and 0 < seen.get("kv", 0) <= 1
              and (seen.get("router_in_flight") or 0) >= 1, seen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--workers", required=True)
    ap.add_argument("--worker-addrs", required=True)
    args = ap.parse_args()
    chk = cc.Checker()
    workers = args.workers.split(",")
    w0 = [scrape_ok(chk, u, f"worker {u}") for u in workers]
    r0 = scrape_ok(chk, args.url, "router")
    if None in w0 or r0 is None:
        chk.exit()
    check_families(chk, w0[0], WORKER_FAMILIES, "worker", "model_name")
    check_families(chk, r0, ROUTER_FAMILIES, "router")
    for a in args.worker_addrs.split(","):
        chk.check(f"router worker_healthy{{worker={a}}} == 1",
                  r0.value("infernum_router:worker_healthy", worker=a) == 1)

    served = workload(args.url)
    bad = cc.call(args.url, "POST", "/v1/completions", {"model": "nope", "prompt": "x"})
    inv = cc.call(args.url, "POST", "/v1/completions", {"model": MODEL, "prompt": "x", "top_p": 7})
    chk.check("every workload request 200 with usage", all(s == 200 and u for s, u, _ in served),
              served)
    chk.check("unknown model 404, bad top_p 400", bad.status == 404 and inv.status == 400,
              (bad, inv))
    n = len(served)
    gen = sum(u["completion_tokens"] for _, u, _ in served)
    prompt = sum(u["prompt_tokens"] for _, u, _ in served)
    reasons = {}
    for _, _, fr in served:
        reasons[fr] = reasons.get(fr, 0) + 1
    print(f"info served {n} requests: {gen} completion tokens, {prompt} prompt tokens, "
          f"finish reasons {reasons}")
    # The counters are bumped when a worker's stream ends; wait until the
    # request count is complete, then compare everything.
    # A worker updates its counters as a stream ends, possibly just after
    # the client saw the end: wait until every request is counted, nothing
    # runs, and two scrapes agree.
    last = [None]

    def done():
        ws = [cc.scrape(u)[1] for u in workers]
        if None in ws:
            return None
        key = [(w.value("infernum:request_success_total"),
                w.value("infernum:generation_tokens_total")) for w in ws]
        settled = (key == last[0] and total(ws, "infernum:num_requests_running") == 0
                   and total(ws, "infernum:request_success_total")
                   - total(w0, "infernum:request_success_total") >= n)
        last[0] = key
        return ws if settled else None
    w1 = cc.wait_until(done, 30, 0.2) or [cc.scrape(u)[1] for u in workers]
    _, r1, _ = cc.scrape(args.url)

    def d(name, **labels):
        return total(w1, name, **labels) - total(w0, name, **labels)
    chk.check(f"workers: generation_tokens_total grew by {gen} (got {d('infernum:generation_tokens_total')})",
              d("infernum:generation_tokens_total") == gen)
    chk.check(f"workers: prompt_tokens_total grew by {prompt} (got {d('infernum:prompt_tokens_total')})",
              d("infernum:prompt_tokens_total") == prompt)
    for fr, c in reasons.items():
        got = d("infernum:request_success_total", finished_reason=fr)
        chk.check(f"workers: request_success_total{{finished_reason={fr}}} grew by {c} (got {got})",
                  got == c)
    for h in ("e2e_request_latency_seconds", "time_to_first_token_seconds",
              "request_queue_time_seconds"):
        got = d(f"infernum:{h}_count")
        chk.check(f"workers: {h}_count grew by {n} (got {got})", got == n)
    itl = d("infernum:inter_token_latency_seconds_count")
    chk.check(f"workers: inter_token_latency_seconds_count grew by completion tokens - requests "
              f"= {gen - n} (got {itl})", itl == gen - n)
    hits, queries = d("infernum:prefix_cache_hits_total"), d("infernum:prefix_cache_queries_total")
    chk.check(f"workers: prefix_cache_hits_total grew by >= 2*128 tokens (got {hits}), "
              f"queries by the prompt tokens {prompt} (got {queries})",
              hits >= 256 and queries == prompt)
    for g in ("infernum:num_requests_running", "infernum:num_requests_waiting"):
        chk.check(f"workers: {g} back to 0", total(w1, g) == 0, total(w1, g))
    chk.check("workers: kv_cache_usage_perc within [0, 1]",
              all(0 <= w.value("infernum:kv_cache_usage_perc") <= 1 for w in w1))

    def rd(name, **labels):
        return r1.value(name, **labels) - r0.value(name, **labels)
    ok200 = rd("infernum_router:requests_total", model=MODEL, status="200")
    chk.check(f"router: requests_total{{model={MODEL},status=200}} grew by {n} (got {ok200})",
              ok200 == n)
    pol = {s.labels.get("policy") for s in r1.samples if s.name == "infernum_router:requests_total"}
    chk.check(f"router: requests_total has policy label round_robin ({pol})", "round_robin" in pol)
    chk.check("router: requests_total{status=404} and {status=400} grew by 1",
              rd("infernum_router:requests_total", status="404") == 1
              and rd("infernum_router:requests_total", status="400") == 1,
              (rd("infernum_router:requests_total", status="404"),
               rd("infernum_router:requests_total", status="400")))
    e2e = rd("infernum_router:e2e_request_latency_seconds_count", model=MODEL)
    ttft = rd("infernum_router:time_to_first_token_seconds_count", model=MODEL)
    # TTFT "as seen by the client": every streamed request has one; a
    # non-streamed one may or may not be counted.
    chk.check(f"router: e2e_request_latency_seconds_count{{model}} grew by {n} (got {e2e}), "
              f"time_to_first_token_seconds_count by {NUM_STREAMED}..{n} (got {ttft})",
              e2e == n and NUM_STREAMED <= ttft <= n)
    chk.check("router: worker_in_flight back to 0",
              r1.value("infernum_router:worker_in_flight") == 0)
    check_gauges_while_streaming(chk, args, workers)
    chk.exit()


if __name__ == "__main__":
    main()
