"""Auth / admission / probe driver for tests/scripts/cluster_auth.sh.

  auth_client.py table --url U --keys K1,K2 --metrics-auth 0|1 [--log FILE]
      Every route x {no key, wrong key, key without "Bearer", right keys}:
      401 with the OpenAI error body where a key is needed, never 401 with a
      right key, /live /ready /health always open, /metrics per
      metrics_require_auth; x-request-id echoed (or generated) on every
      response; the JSON access log line of a request names it.
  auth_client.py admission --url U --limit N --queue Q
      Holds N slow streams, queues Q more, then one more request gets 429
      with Retry-After; after the held streams go, requests succeed again.
  auth_client.py queue-timeout --url U
      max_concurrent_requests 1, a short queue_timeout_s: a queued request
      gets 429 once it waited too long.
  auth_client.py per-model --url U
      models[slow].max_concurrent 1 and no queue: a second slow request gets
      429 while the other model still answers 200.
"""
import argparse
import http.client
import json
import socket
import threading
import time
import urllib.parse

import cluster_client as cc

FAST = "stories260K"
SLOW = "slow"


def fast_body():
    return {"model": FAST, "prompt": "Once upon a time", "max_tokens": 4, "temperature": 0}


def routes():
    chat = {"model": FAST, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    return [("POST", "/v1/chat/completions", chat), ("POST", "/v1/completions", fast_body()),
            ("GET", "/v1/models", None)]


def is_openai_error(r, type_, code=None):
    e = (r.json() or {}).get("error") if isinstance(r.json(), dict) else None
    return (isinstance(e, dict) and isinstance(e.get("message"), str) and e["message"] != ""
            and e.get("type") == type_ and "param" in e and e.get("param") is None
            and (code is None or e.get("code") == code))


def cmd_table(chk, args):
    keys = args.keys.split(",")
    bad_headers = {"no key": {}, "wrong key": {"Authorization": "Bearer sk-wrong"},
                   "key without Bearer": {"Authorization": keys[0]},
                   "Basic scheme": {"Authorization": "Basic " + keys[0]},
                   "empty Bearer": {"Authorization": "Bearer "}}
    _, m0, _ = cc.scrape(args.url, {"Authorization": "Bearer " + keys[0]})
    num_401 = 0
    for method, path, body in routes():
        for what, hdrs in bad_headers.items():
            r = cc.call(args.url, method, path, body, hdrs)
            num_401 += r.status == 401
            chk.check(f"{method} {path} {what} -> 401 invalid_api_key",
                      r.status == 401 and is_openai_error(r, "invalid_request_error",
                                                          "invalid_api_key"), r)
            chk.check(f"{method} {path} {what}: x-request-id present on the 401",
                      bool(r.headers.get("x-request-id")), r.headers)
        for k in keys:
            r = cc.call(args.url, method, path, body, {"Authorization": "Bearer " + k})
            chk.check(f"{method} {path} key {k[:6]}... -> 200", r.status == 200, r)
    for path in ("/live", "/ready", "/health"):
        r = cc.call(args.url, "GET", path)
        chk.check(f"GET {path} without a key -> 200", r.status == 200, r)
    r = cc.call(args.url, "GET", "/metrics")
    num_401 += r.status == 401
    want = 401 if args.metrics_auth else 200
    chk.check(f"GET /metrics without a key -> {want} (metrics_require_auth "
              f"{bool(args.metrics_auth)})", r.status == want, r)
    r = cc.call(args.url, "GET", "/metrics", headers={"Authorization": "Bearer " + keys[-1]})
    chk.check("GET /metrics with a key -> 200", r.status == 200, r)
    for method, path in (("GET", "/v1/nope"), ("POST", "/v1/models")):
        r = cc.call(args.url, method, path, {} if method == "POST" else None)
        num_401 += r.status == 401
        print(f"info {method} {path} without a key -> {r.status}")
        chk.check(f"{method} {path} without a key is refused", r.status in (401, 404, 405), r)
    if m0 is not None:
        _, m1, _ = cc.scrape(args.url, {"Authorization": "Bearer " + keys[0]})
        name = "infernum_router:rejected_requests_total"
        d = m1.value(name, reason="auth") - m0.value(name, reason="auth") if m1 else None
        chk.check(f"rejected_requests_total{{reason=auth}} grew by the {num_401} 401s (got {d})",
                  d == num_401, d)
    check_request_id(chk, args, keys[0])


def check_request_id(chk, args, key):
    auth = {"Authorization": "Bearer " + key}
    rid = f"e2e-req-{int(time.time() * 1000)}"
    r = cc.call(args.url, "POST", "/v1/completions", fast_body(), dict(auth, **{"x-request-id": rid}))
    chk.check("x-request-id sent is echoed", r.status == 200 and r.headers.get("x-request-id") == rid,
              r.headers)
    s = cc.stream(args.url, "/v1/completions", fast_body(), dict(auth, **{"x-request-id": rid + "s"}))
    chk.check("x-request-id echoed on a stream", s["headers"].get("x-request-id") == rid + "s",
              s["headers"])
    ids = {cc.call(args.url, "GET", "/v1/models", headers=auth).headers.get("x-request-id")
           for _ in range(3)}
    chk.check(f"x-request-id generated when absent, distinct ({ids})",
              None not in ids and "" not in ids and len(ids) == 3)
    if args.log:
        time.sleep(0.5)
        line = find_access_log(args.log, rid)
        chk.check("access log: a JSON line names the request id", line is not None)
        if line:
            print("info access log line:", json.dumps(line))
            flat = json.dumps(line)
            named = [v for k, v in line.items() if "worker" in k and v]
            chk.check("access log line has model, status 200, the worker that served it, "
                      "tokens and latency", line.get("model") == FAST and line.get("status") == 200
                      and bool(named) and "token" in flat
                      and any(("ms" in k or "latency" in k or "_s" in k) for k in line), line)


def find_access_log(path, rid):
    for raw in open(path, errors="replace"):
        raw = raw.strip()
        start = raw.find("{")
        if start < 0 or rid not in raw:
            continue
        try:
            obj = json.loads(raw[start:])
        except ValueError:
            continue
        if rid in obj.values():
            return obj
    return None


class Held:
    """A slow streaming request kept open until close()."""

    def __init__(self, url, body):
        self.result = None
        self.conn = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, body), daemon=True)
        self.thread.start()

    def _run(self, url, body):
        def on_event(res):
            if res["chunks"] > 0:
                self.started.set()
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.result = cc.stream_on(self.conn, "/v1/completions", body, on_event=on_event)
        self.started.set()

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.thread.join(timeout=60)


def slow_body(max_tokens=3000):
    return {"model": SLOW, "prompt": "Once upon a time", "max_tokens": max_tokens,
            "ignore_eos": True, "temperature": 0}


def is_429(r):
    ra = r.headers.get("retry-after", "")
    return (r.status == 429 and is_openai_error(r, "rate_limit_error") and ra.strip().isdigit(),
            f"{r} retry-after={ra!r}")


def cmd_admission(chk, args):
    held = [Held(args.url, slow_body()) for _ in range(args.limit)]
    ok = all(h.started.wait(120) for h in held)
    chk.check(f"{args.limit} slow streams running", ok and all(h.result is None for h in held),
              [h.result for h in held])
    queued = [Held(args.url, slow_body()) for _ in range(args.queue)]
    gauge = cc.wait_until(lambda: metric(args.url, "infernum_router:queued_requests") >= args.queue,
                          30, 0.1)
    chk.check(f"router queued_requests gauge reaches {args.queue}", gauge)
    r = cc.call(args.url, "POST", "/v1/completions", fast_body())
    ok, detail = is_429(r)
    chk.check("one request past max_concurrent_requests + max_queued_requests -> 429 "
              "rate_limit_error with Retry-After", ok, detail)
    chk.check("GET /v1/models is not admission-limited",
              cc.call(args.url, "GET", "/v1/models").status == 200)
    chk.check("queued requests still waiting", all(not q.started.is_set() for q in queued))
    for h in held:
        h.close()
    ok = all(q.started.wait(120) for q in queued)
    chk.check("queued requests start streaming once the slots free",
              ok and all(q.result is None for q in queued), [q.result for q in queued])
    for q in queued:
        q.close()
    r = cc.wait_until(lambda: (lambda x: x if x.status == 200 else None)(
        cc.call(args.url, "POST", "/v1/completions", fast_body())), 60, 0.2)
    chk.check("requests succeed again after the load left", r is not None and r.status == 200, r)
    chk.check("rejected_requests_total{reason=rate_limit} >= 1",
              metric(args.url, "infernum_router:rejected_requests_total", reason="rate_limit") >= 1)


def cmd_queue_timeout(chk, args):
    held = Held(args.url, slow_body())
    chk.check("1 slow stream running", held.started.wait(120) and held.result is None, held.result)
    t0 = time.time()
    r = cc.call(args.url, "POST", "/v1/completions", fast_body())
    waited = time.time() - t0
    ok, detail = is_429(r)
    chk.check(f"queued request times out with 429 + Retry-After (after {waited:.1f}s)", ok, detail)
    held.close()


def cmd_per_model(chk, args):
    held = Held(args.url, slow_body())
    chk.check("1 slow stream running", held.started.wait(120) and held.result is None, held.result)
    r = cc.call(args.url, "POST", "/v1/completions", slow_body(8))
    ok, detail = is_429(r)
    chk.check("second request for the limited model -> 429 with Retry-After", ok, detail)
    r = cc.call(args.url, "POST", "/v1/completions", fast_body())
    chk.check("the other model is not limited -> 200", r.status == 200, r)
    held.close()


def metric(url, name, **labels):
    _, m, _ = cc.scrape(url)
    return m.value(name, **labels) if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["table", "admission", "queue-timeout", "per-model"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--keys", default="")
    ap.add_argument("--metrics-auth", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--queue", type=int, default=2)
    args = ap.parse_args()
    chk = cc.Checker()
    {"table": cmd_table, "admission": cmd_admission, "queue-timeout": cmd_queue_timeout,
     "per-model": cmd_per_model}[args.cmd](chk, args)
    chk.exit()


if __name__ == "__main__":
    main()
