#!/usr/bin/python3
"""Proves the deploy validators can fail: breaks a copy of deploy/ in one
place at a time and expects the matching validator to reject it, naming the
problem.

  mutation_selftest.py            # from the repository root

Each mutation replaces one exact, unique string in one file of a fresh copy
(the copy of deploy/ lives in a temporary directory; the tree is never
touched). Exit status 1 if a mutation is not applied (its string is gone or
not unique: the list needs updating) or a validator accepts a broken file.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = "/usr/bin/python3"

K8S = [  # (file under deploy/k8s, old, new, expected in the output)
    ("worker-llama.yaml", "          readinessProbe:", "          readinesProbe:", "readinesProbe: unknown field"),
    ("monitoring.yaml", "      path: /metrics\n      interval: 15s\n---", "      path: /metrics\n      intervall: 15s\n---", "intervall: unknown field"),
    ("router.yaml", "containerPort: 8000", 'containerPort: "8000"', "must be integer"),
    ("router.yaml", "  selector:\n    app.kubernetes.io/name: infernum-router\n  ports:",
     "  selector:\n    app.kubernetes.io/name: infernum-routr\n  ports:", "matches no pod template"),
    ("config/router.yaml", "dns: infernum-worker-llama.infernum", "dns: infernum-worker-lama.infernum", "no Service infernum-worker-lama"),
    ("config/worker-llama.yaml", "served_model_name: llama-3.1-8b-instruct", "served_model_name: llama3", 'serves "llama3"'),
    ("worker-llama.yaml", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSeconds: 60", "must exceed shutdown_grace_seconds"),
    ("router.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30", "must exceed preStop sleep"),
    ("worker-llama.yaml", "claimName: infernum-models", "claimName: models", "PVC models"),
    ("worker-llama.yaml", "name: infernum_num_requests_waiting", "name: num_waiting", "not exposed by the metrics adapter"),
    ("monitoring.yaml", "- port: metrics", "- port: metric", "endpoint port metric is not a named port"),
    ("kustomization.yaml", "  - monitoring.yaml", "  - monitors.yaml", "resource not found"),
    ("kustomization.yaml", "  - models-pvc.yaml\n", "", "models-pvc.yaml: not listed in the kustomization"),
    ("worker-llama.yaml", "              port: 50051\n            periodSeconds: 5",
     "              port: 50052\n            periodSeconds: 5", "readinessProbe port 50052 is not a declared container port"),
    ("router.yaml", "  minAvailable: 1", "  minAvailable: 1\n  maxUnavailable: 1", "exactly one of minAvailable"),
    ("worker-llama.yaml", "              memory: 64Gi\n              nvidia.com/gpu: 1", "              memory: 64Gi",
     "backend cuda needs a nvidia.com/gpu limit"),
    ("kustomization.yaml", "namespace: infernum", "namespace: infernum\nnamespace: other", "unique"),
    ("config/router.yaml", "api_key_env: INFERNUM_API_KEYS", "api_keys: [sk-test]", "api_keys in a ConfigMap"),
    ("config/worker-mistral.yaml", "backend: cuda", "backend: gpu", "backend must be cpu or cuda"),
    ("router.yaml", "                  name: infernum-api-keys", "                  name: infernum-keys", "Secret infernum-keys"),
    ("worker-llama.yaml", "  serviceName: infernum-worker-llama", "  serviceName: infernum-worker-mistral", "does not select its pods"),
    ("worker-llama.yaml", "    kind: StatefulSet\n    name: infernum-worker-llama", "    kind: Deployment\n    name: infernum-worker-llama",
     "scaleTargetRef Deployment/infernum-worker-llama is not defined"),
    ("kustomization.yaml", "      - worker.yaml=config/worker-mistral.yaml", "      - worker.yml=config/worker-mistral.yaml",
     "no ConfigMap key is mounted at /etc/infernum/worker.yaml"),
]

COMPOSE = [  # (file under deploy/compose, old, new, expected)
    ("docker-compose.yml", "  stop_grace_period: 90s", "  stop_grace_period: 30s", "stop_grace_period must exceed"),
    ("docker-compose.yml", "              capabilities: [gpu]\n\n  worker-mistral",
     "              capabilitiez: [gpu]\n\n  worker-mistral", "docker-compose config failed"),
    ("router.yaml", "dns: worker-llama:50051", "dns: worker-lama:50051", "worker-lama is not a worker service"),
    ("worker-cpu.yaml", "served_model_name: stories260K", "served_model_name: tiny", "serves 'tiny'"),
    ("prometheus.yml", "        port: 9090", "        port: 9091", "does not scrape worker"),
    ("docker-compose.yml", "    target: worker", "    target: wrker", "wrker is not a stage"),
    ("docker-compose.yml", "      - ./worker-cpu.yaml:", "      - ./worker-cpux.yaml:", "does not exist"),
    ("worker-llama.yaml", "listen: 0.0.0.0:50051", "listen: 0.0.0.0:50052", "listens on 0.0.0.0:50052"),
    ("worker-mistral.yaml", "backend: cuda", "backend: rocm", "backend must be cpu or cuda"),
    ("docker-compose.yml", "      - ./worker-mistral.yaml:/etc/infernum/worker.yaml:ro\n      - ${MODELS_DIR:-./models}:/models:ro",
     "      - ./worker-mistral.yaml:/etc/infernum/worker.yaml:ro", "is not on a mounted volume"),
]

DOCKER = [  # (file under deploy/docker, old, new, expected)
    ("Dockerfile", "COPY deploy/docker/router.yaml", "COPY deploy/docker/routr.yaml", "not found in the build context"),
    ("Dockerfile", "USER 10001:10001\nEXPOSE 8000", "EXPOSE 8000", "non-root USER"),
    ("Dockerfile", "//cli:infernum \\", "//cli:infernum-cli \\", "//cli:infernum-cli does not exist"),
    ("Dockerfile", "COPY --from=build /out/bin/infernum-router", "COPY --from=bild /out/bin/infernum-router", "no earlier stage"),
    ("Dockerfile", 'ARG BUILD_PACKAGES="bazel-bootstrap', 'ARG BUILD_PACKAGES="libfoo-dev bazel-bootstrap', "libfoo-dev"),
    ("Dockerfile", '"--config", "/etc/infernum/worker.yaml"]', '"--config", "/etc/infernum/w.yaml"]', "must pass --config"),
    ("Dockerfile", "COPY --from=build /out/router.packages", "COPY --from=build /out/router.pkgs", "never mentions that path"),
    ("Dockerfile", "HEALTHCHECK --interval=15s --timeout=3s --start-period=10s", "HEALTHCHECK NONE\n#", "no HEALTHCHECK"),
]


def k8s_cmd(d):
    return ["node", os.path.join(ROOT, "tests/deploy/k8s_validate.cjs"), "--kustomize", os.path.join(d, "deploy/k8s"),
            "--external-secret", "infernum-api-keys",
            "--adapter-values", os.path.join(d, "deploy/k8s/extras/prometheus-adapter-values.yaml")]


def compose_cmd(d):
    return [PY, os.path.join(ROOT, "tests/deploy/compose_check.py"), "--compose", os.path.join(d, "deploy/compose/docker-compose.yml")]


def docker_cmd(d):
    return [PY, os.path.join(ROOT, "tests/deploy/dockerfile_lint.py"), "--dockerfile", os.path.join(d, "deploy/docker/Dockerfile"),
            "--context", d, "--install-deps", os.path.join(d, "deploy/install_deps.sh")]


def fresh_copy(tmp):
    d = os.path.join(tmp, "repo")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "deploy"), os.path.join(d, "deploy"))
    for top in ("cli", "router", "worker"):  # BUILD files for the bazel target check
        os.makedirs(os.path.join(d, top))
        for b in ("BUILD.bazel", "BUILD"):
            if os.path.isfile(os.path.join(ROOT, top, b)):
                shutil.copy(os.path.join(ROOT, top, b), os.path.join(d, top, b))
    return d


def main():
    failures, count = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for group, sub, cmd, muts in (("k8s", "deploy/k8s", k8s_cmd, K8S), ("compose", "deploy/compose", compose_cmd, COMPOSE),
                                      ("docker", "deploy/docker", docker_cmd, DOCKER)):
            d = fresh_copy(tmp)
            base = subprocess.run(cmd(d), capture_output=True, text=True)
            if base.returncode != 0:
                failures.append(f"{group}: the unmodified copy does not pass:\n{base.stdout[-1500:]}")
                continue
            for rel, old, new, expect in muts:
                count += 1
                d = fresh_copy(tmp)
                path = os.path.join(d, sub, rel)
                with open(path) as f:
                    text = f.read()
                if text.count(old) != 1:
                    failures.append(f"{group} {rel}: mutation string found {text.count(old)} times: {old!r}")
                    continue
                with open(path, "w") as f:
                    f.write(text.replace(old, new))
                r = subprocess.run(cmd(d), capture_output=True, text=True)
                out = r.stdout + r.stderr
                if r.returncode == 0:
                    failures.append(f"{group} {rel}: {old!r} -> {new!r} was ACCEPTED")
                elif expect not in out:
                    failures.append(f"{group} {rel}: {old!r} -> {new!r} rejected, but without {expect!r}:\n{out[-800:]}")
                else:
                    print(f"ok   {group} {rel}: rejected ({expect})")
    for f in failures:
        print(f"FAIL {f}")
    print(f"mutation_selftest: {count - len([f for f in failures if 'unmodified' not in f])} of {count} mutations rejected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
