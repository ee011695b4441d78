"""Client helpers for the cluster end-to-end tests (stdlib only, plus Debian's
python3-prometheus-client for /metrics and python3-grpcio for workers).

HTTP: `call` (one request, whole body) and `stream` (an SSE completion,
collected). `parallel` runs callables on threads. `Metrics` parses a
Prometheus exposition with the official parser. `Checker` prints "ok"/"FAIL"
lines and counts failures. `WorkerRpc` talks gRPC to a worker (GetLoad,
held Generate streams that keep a worker busy).
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Checker:
    """Prints one line per check and remembers the failures."""

    def __init__(self):
        self.failures = []

    def check(self, name, ok, detail=""):
        line = ("ok   " if ok else "FAIL ") + name
        if detail and not ok:
            line += " :: " + str(detail)[:600]
        print(line, flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def exit(self):
        print(f"{len(self.failures)} failures", flush=True)
        sys.exit(1 if self.failures else 0)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:300]!r}"


def _conn(url, timeout):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def call(url, method, path, body=None, headers=None, timeout=120):
    """One HTTP request; returns Response (status 0 on a connection error)."""
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    try:
        c = _conn(url, timeout)
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        out = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, text)
        c.close()
        return out
    except OSError as e:
        return Response(0, {}, f"connection error: {e}")


def stream(url, path, body, headers=None, timeout=600, on_event=None):
    """POSTs a streaming completion / chat request and reads the SSE stream.

    Returns a dict: status, headers, text (concatenated choice 0 text or
    delta content), chunks (events carrying text), finish_reason, usage,
    error (an in-stream error object or a transport problem), done (saw
    [DONE]), body (the response body for non-200). `on_event(result)` is
    called after every data event (from this thread).
    """
    return stream_on(_conn(url, timeout), path, body, headers, on_event)


def stream_on(conn, path, body, headers=None, on_event=None):
    """stream() over an existing HTTPConnection (which the caller may shut
    down from another thread to hang up); closes it at the end."""
    body = dict(body, stream=True)
    res = {"status": 0, "headers": {}, "text": "", "chunks": 0, "finish_reason": None,
           "usage": None, "error": None, "done": False, "body": ""}
    hdrs = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    hdrs.update(headers or {})
    try:
        conn.request("POST", path, body=json.dumps(body), headers=hdrs)
        r = conn.getresponse()
        res["status"] = r.status
        res["headers"] = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            res["body"] = r.read().decode("utf-8", "replace")
        else:
            _read_sse(r, res, on_event)
    except Exception as e:  # noqa: BLE001 - OSError, IncompleteRead, bad JSON
        res["error"] = res["error"] or f"transport: {e!r}"
    finally:
        conn.close()
    return res


def _read_sse(r, res, on_event):
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode("utf-8", "replace").rstrip("\r\n")
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            res["done"] = True
            continue
        obj = json.loads(payload)
        if "error" in obj:
            res["error"] = obj["error"]
            continue
        if obj.get("usage"):
            res["usage"] = obj["usage"]
        for ch in obj.get("choices") or []:
            piece = ch.get("text")
            if piece is None:
                piece = (ch.get("delta") or {}).get("content")
            if piece:
                res["text"] += piece
                res["chunks"] += 1
            if ch.get("finish_reason"):
                res["finish_reason"] = ch["finish_reason"]
        if on_event:
            on_event(res)


def parallel(fns, max_threads=None):
    """Runs the callables on threads at once; returns their results in order
    (an exception becomes {"exception": repr})."""
    out = [None] * len(fns)
    sem = threading.Semaphore(max_threads or len(fns))

    def run(i):
        with sem:
            try:
                out[i] = fns[i]()
            except Exception as e:  # noqa: BLE001 - reported by the caller
                out[i] = {"exception": repr(e)}

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def wait_until(pred, timeout_s=60, interval_s=0.1):
    """Polls pred() until truthy; returns its last value."""
    deadline = time.time() + timeout_s
    v = pred()
    while not v and time.time() < deadline:
        time.sleep(interval_s)
        v = pred()
    return v


class Metrics:
    """A parsed Prometheus text exposition (prometheus_client's parser)."""

    def __init__(self, text):
        from prometheus_client.parser import text_string_to_metric_families
        self.families = list(text_string_to_metric_families(text))
        self.samples = [s for f in self.families for s in f.samples]

    def family(self, name):
        """The family of `name` (a counter's name without _total also works)."""
        for f in self.families:
            if f.name == name or f.name + "_total" == name:
                return f
        return None

    def value(self, name, **labels):
        """Sum of the samples named `name` whose labels include `labels`."""
        total = 0.0
        for s in self.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
        return total

    def has(self, name):
        return any(s.name == name for s in self.samples)


def scrape(url, headers=None):
    """GET url/metrics; returns (Response, Metrics or None, parse error)."""
    r = call(url, "GET", "/metrics", headers=headers)
    if r.status != 200:
        return r, None, f"HTTP {r.status}"
    try:
        return r, Metrics(r.body), None
    except Exception as e:  # noqa: BLE001 - the parser's error is the finding
        return r, None, repr(e)


def load_stubs():
    """Generates and imports the worker.proto Python stubs (see worker_load.py)."""
    out_dir = tempfile.mkdtemp(prefix="e2e_pb_")
    subprocess.run(
        ["/usr/bin/protoc", f"-I{ROOT}/proto", f"--python_out={out_dir}",
         f"--grpc_python_out={out_dir}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         f"{ROOT}/proto/infernum/v1/worker.proto"], check=True)
    sys.path.insert(0, out_dir)
    from infernum.v1 import worker_pb2, worker_pb2_grpc  # noqa: E402
    return worker_pb2, worker_pb2_grpc


class WorkerRpc:
    """gRPC access to one worker: load reports and held Generate streams."""

    _stubs = None

    def __init__(self, address):
        import grpc
        if WorkerRpc._stubs is None:
            WorkerRpc._stubs = load_stubs()
        self.pb, pb_grpc = WorkerRpc._stubs
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.WorkerStub(self.channel)
        self.calls = []

    def load(self, timeout=10):
        r = self.stub.GetLoad(self.pb.GetLoadRequest(), timeout=timeout)
        return {"running": r.num_running, "waiting": r.num_waiting,
                "kv_cache_usage": r.kv_cache_usage}

    def hold(self, num, prompt_ids, max_tokens):
        """Starts `num` long generations that nobody reads fast; they keep the
        worker busy until release()."""
        for i in range(num):
            req = self.pb.GenerateRequest(
                request_id=f"busy-{len(self.calls)}-{i}", prompt_token_ids=prompt_ids,
                max_tokens=max_tokens, ignore_eos=True)
            req.sampling.temperature = 0.0
            call_ = self.stub.Generate(req, timeout=600)
            self.calls.append(call_)
            threading.Thread(target=self._drain, args=(call_,), daemon=True).start()

    @staticmethod
    def _drain(call_):
        try:
            for _ in call_:
                pass
        except Exception:  # noqa: BLE001 - cancelled on release
            pass

    def release(self):
        for c in self.calls:
            c.cancel()
        self.calls = []

    def close(self):
        self.release()
        self.channel.close()


def _main():
    """CLI for shell scripts:
      cluster_client.py metric URL NAME [label=value ...]
          prints the summed value of NAME on URL/metrics ("absent" if no
          sample matches, "error: ..." if the scrape fails).
      cluster_client.py load HOST:PORT     prints the worker's GetLoad JSON.
    """
    if len(sys.argv) >= 4 and sys.argv[1] == "metric":
        r, m, err = scrape(sys.argv[2])
        if m is None:
            print(f"error: {err}")
            return
        labels = dict(kv.split("=", 1) for kv in sys.argv[4:])
        name = sys.argv[3]
        match = [s for s in m.samples if s.name == name and
                 all(s.labels.get(k) == v for k, v in labels.items())]
        print(m.value(name, **labels) if match else "absent")
    elif len(sys.argv) == 3 and sys.argv[1] == "load":
        print(json.dumps(WorkerRpc(sys.argv[2]).load()))
    else:
        print(_main.__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _main()
