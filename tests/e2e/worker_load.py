"""Prints a worker's GetLoad report as JSON (Python gRPC client).

Usage: worker_load.py HOST:PORT
Generates the Python stubs from proto/infernum/v1/worker.proto at run time
with Debian's protoc and grpc_python_plugin (python3-grpc-tools bundles a
protoc too old for `optional` fields) into a temporary folder.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_stubs(out_dir):
    subprocess.run(
        ["/usr/bin/protoc", f"-I{ROOT}/proto", f"--python_out={out_dir}",
         f"--grpc_python_out={out_dir}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         f"{ROOT}/proto/infernum/v1/worker.proto"],
        check=True)
    sys.path.insert(0, out_dir)
    from infernum.v1 import worker_pb2, worker_pb2_grpc  # noqa: E402
    return worker_pb2, worker_pb2_grpc


def main():
    import grpc
    with tempfile.TemporaryDirectory() as tmp:
        pb, pb_grpc = load_stubs(tmp)
        with grpc.insecure_channel(sys.argv[1]) as channel:
            stub = pb_grpc.WorkerStub(channel)
            r = stub.GetLoad(pb.GetLoadRequest(), timeout=10)
            print(json.dumps({
                "running": r.num_running, "waiting": r.num_waiting,
                "kv_cache_usage": r.kv_cache_usage,
                "blocks_used": r.num_blocks_used, "blocks_total": r.num_blocks_total,
            }))


if __name__ == "__main__":
    main()
