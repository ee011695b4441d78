#!/usr/bin/python3
"""Validates deploy/compose without a container engine.

  compose_check.py --compose FILE [--profiles gpu,cpu] [--dump-configs DIR]

For each profile:
  1. `docker-compose --profile P config` (Debian's docker-compose checks the
     file against the Compose schema and interpolates variables; no daemon);
  2. cross-checks on the resolved file (`config` output): build targets are
     stages of their Dockerfile; mounted config files exist; the router's
     listen port is published; each models[].dns names a worker service of
     the profile that serves that model on that port; cuda workers reserve a
     GPU; model paths lie on a mounted volume; stop_grace_period exceeds the
     drain grace; Prometheus scrapes the router and every worker's
     metrics_listen port.
With --dump-configs, writes each router / worker YAML as DIR/<role>-compose-<service>.yaml
(+ .name) for the binaries to load. Exit status 1 on any problem.
"""
import argparse
import os
import re
import subprocess
import sys

import yaml


def port_of(listen):
    m = re.search(r":(\d+)$", str(listen or ""))
    return int(m.group(1)) if m else None


def seconds(text):
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(ms|h|m|s)", str(text)):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def dockerfile_stages(path):
    stages = []
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
            if m:
                stages.append(m.group(1))
    return stages


class ProfileCheck:
    def __init__(self, compose_dir, profile, services, errors, configs):
        self.dir = compose_dir
        self.profile = profile
        self.all_services = set(services)
        self.services = {n: s for n, s in services.items()
                         if not s.get("profiles") or profile in s["profiles"]}
        self.errors = errors
        self.configs = configs
        self.routers, self.workers = {}, {}

    def err(self, msg):
        self.errors.append(f"[{self.profile}] {msg}")

    def role(self, svc):
        target = (svc.get("build") or {}).get("target", "")
        m = re.search(r"infernum-(router|worker)", svc.get("image", ""))
        return target if target in ("router", "worker") else (m.group(1) if m else None)

    def mounts(self, svc):
        out = []
        for v in svc.get("volumes", []):
            if isinstance(v, dict):
                out.append((v.get("source"), v.get("target")))
            else:
                parts = v.split(":")
                out.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
        return out

    def load_config(self, name, svc, role):
        want = f"/etc/infernum/{role}.yaml"
        for src, dst in self.mounts(svc):
            if dst == want:
                if not os.path.isfile(src):
                    self.err(f"{name}: mounted config {src} does not exist")
                    return None
                with open(src) as f:
                    text = f.read()
                try:
                    cfg = yaml.safe_load(text) or {}
                except yaml.YAMLError as e:
                    self.err(f"{name}: {src}: YAML error: {e}")
                    return None
                self.configs[f"{role}-compose-{name}"] = (f"compose {self.profile} {name} {os.path.basename(src)}", text)
                return cfg
        self.err(f"{name}: nothing mounted at {want} (the image's --config)")
        return None

    def run(self):
        for name, svc in self.services.items():
            build = svc.get("build")
            if build:
                df = os.path.join(build.get("context", "."), build.get("dockerfile", "Dockerfile"))
                if not os.path.isfile(df):
                    self.err(f"{name}: Dockerfile {df} not found")
                elif build.get("target") and build["target"] not in dockerfile_stages(df):
                    self.err(f"{name}: build target {build['target']} is not a stage of {df}")
            role = self.role(svc)
            if role:
                cfg = self.load_config(name, svc, role)
                if cfg is not None:
                    (self.routers if role == "router" else self.workers)[name] = (svc, cfg)
        if len(self.routers) != 1:
            self.err(f"expected one router service, found {sorted(self.routers)}")
        if not self.workers:
            self.err("no worker service")
        for name, (svc, cfg) in self.workers.items():
            self.check_worker(name, svc, cfg)
        for name, (svc, cfg) in self.routers.items():
            self.check_router(name, svc, cfg)
        self.check_prometheus()

    def check_worker(self, name, svc, cfg):
        listen = port_of(cfg.get("listen", "0.0.0.0:50051"))
        # The binary check overrides backend and the ports: checked here.
        if cfg.get("backend", "cpu") not in ("cpu", "cuda"):
            self.err(f"{name}: backend must be cpu or cuda, not {cfg.get('backend')!r}")
        for key in ("listen", "metrics_listen"):
            if cfg.get(key) and port_of(cfg[key]) is None:
                self.err(f"{name}: {key} {cfg[key]!r} is not host:port")
        exposed = {int(str(p).split("/")[0]) for p in svc.get("expose", [])}
        if listen not in exposed:
            self.err(f"{name}: listen port {listen} is not in expose")
        if cfg.get("metrics_listen") and port_of(cfg["metrics_listen"]) not in exposed:
            self.err(f"{name}: metrics_listen port {port_of(cfg['metrics_listen'])} is not in expose")
        devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
        has_gpu = any("gpu" in (d.get("capabilities") or []) for d in devices)
        if cfg.get("backend", "cpu") == "cuda" and not has_gpu:
            self.err(f"{name}: backend cuda without a GPU reservation (deploy.resources.reservations.devices)")
        model = cfg.get("model") or cfg.get("model_config")
        if model and not any(model.startswith(dst.rstrip("/") + "/") for _, dst in self.mounts(svc)):
            self.err(f"{name}: model path {model} is not on a mounted volume")
        grace = float(cfg.get("shutdown_grace_seconds", 30))
        if seconds(svc.get("stop_grace_period", "10s")) <= grace:
            self.err(f"{name}: stop_grace_period must exceed shutdown_grace_seconds ({grace})")

    def served(self, cfg):
        if cfg.get("served_model_name"):
            return cfg["served_model_name"]
        return os.path.basename((cfg.get("model") or cfg.get("model_config") or "").rstrip("/"))

    def check_router(self, name, svc, cfg):
        listen = port_of(cfg.get("listen", "0.0.0.0:8000"))
        targets = set()
        for p in svc.get("ports", []):
            targets.add(int(p["target"]) if isinstance(p, dict) else int(str(p).split(":")[-1].split("/")[0]))
        if listen not in targets:
            self.err(f"{name}: router listen port {listen} is not published (ports)")
        if seconds(svc.get("stop_grace_period", "10s")) <= float(cfg.get("shutdown_grace_s", 30)):
            self.err(f"{name}: stop_grace_period must exceed shutdown_grace_s")
        if cfg.get("api_keys"):
            self.err(f"{name}: api_keys written in the config file; use api_key_env")
        env = svc.get("environment") or {}
        if cfg.get("api_key_env", "INFERNUM_API_KEYS") not in env:
            self.err(f"{name}: {cfg.get('api_key_env', 'INFERNUM_API_KEYS')} is not passed in environment")
        models = cfg.get("models") or []
        if not models and not cfg.get("workers"):
            self.err(f"{name}: router config has no models and no workers")
        for m in models:
            hosts = ([m["dns"]] if m.get("dns") else []) + list(m.get("workers") or [])
            for target in hosts:
                host, _, port = target.rpartition(":")
                if host not in self.workers:
                    self.err(f"{name}: model {m.get('name')} target {target}: {host} is not a worker service of profile {self.profile}")
                    continue
                wcfg = self.workers[host][1]
                if self.served(wcfg) != m.get("name"):
                    self.err(f"{name}: model {m.get('name')}: {host} serves {self.served(wcfg)!r}")
                if port_of(wcfg.get("listen", "0.0.0.0:50051")) != int(port):
                    self.err(f"{name}: model {m.get('name')}: {host} listens on {wcfg.get('listen')}, not port {port}")
        served = {m.get("name") for m in models}
        for w, (_, wcfg) in self.workers.items():
            if models and self.served(wcfg) not in served:
                self.err(f"{w}: serves {self.served(wcfg)!r}, which the router does not route")

    def check_prometheus(self):
        proms = [(n, s) for n, s in self.services.items() if "prometheus" in s.get("image", "")]
        if len(proms) != 1:
            self.err(f"expected one prometheus service, found {[n for n, _ in proms]}")
            return
        name, svc = proms[0]
        cfg_file = next((src for src, dst in self.mounts(svc) if dst == "/etc/prometheus/prometheus.yml"), None)
        if not cfg_file or not os.path.isfile(cfg_file):
            self.err(f"{name}: /etc/prometheus/prometheus.yml is not mounted from an existing file")
            return
        with open(cfg_file) as f:
            prom = yaml.safe_load(f) or {}
        scraped = set()  # (service, port)
        for job in prom.get("scrape_configs") or []:
            if "job_name" not in job:
                self.err(f"{cfg_file}: a scrape config without job_name")
            for sd in job.get("dns_sd_configs") or []:
                for n in sd.get("names") or []:
                    scraped.add((n, sd.get("port")))
                    if n not in self.all_services:
                        self.err(f"{cfg_file}: job {job.get('job_name')} scrapes {n}, not a compose service")
            for sc in job.get("static_configs") or []:
                for t in sc.get("targets") or []:
                    host, _, port = t.rpartition(":")
                    scraped.add((host, int(port)))
        for n, (_, cfg) in self.routers.items():
            if (n, port_of(cfg.get("listen", "0.0.0.0:8000"))) not in scraped:
                self.err(f"prometheus does not scrape router {n} on its listen port")
        for n, (_, cfg) in self.workers.items():
            if cfg.get("metrics_listen") and (n, port_of(cfg["metrics_listen"])) not in scraped:
                self.err(f"prometheus does not scrape worker {n} on its metrics_listen port")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compose", required=True)
    ap.add_argument("--profiles", default="gpu,cpu")
    ap.add_argument("--dump-configs")
    args = ap.parse_args()
    compose_dir = os.path.dirname(os.path.abspath(args.compose))
    errors, configs = [], {}
    for profile in args.profiles.split(","):
        # `config` validates exactly as `config -q` does, and prints the
        # resolved file the cross-checks read.
        q = subprocess.run(["docker-compose", "-f", args.compose, "--profile", profile, "config"],
                           capture_output=True, text=True)
        if q.returncode != 0:
            errors.append(f"[{profile}] docker-compose config failed: {(q.stderr or q.stdout).strip()}")
            continue
        print(f"ok   docker-compose --profile {profile} config")
        services = (yaml.safe_load(q.stdout) or {}).get("services") or {}
        before = len(errors)
        ProfileCheck(compose_dir, profile, services, errors, configs).run()
        if len(errors) == before:
            print(f"ok   cross-checks, profile {profile}")
    for e in errors:
        print(f"FAIL {e}")
    if args.dump_configs:
        os.makedirs(args.dump_configs, exist_ok=True)
        for base, (name, text) in configs.items():
            with open(os.path.join(args.dump_configs, base + ".yaml"), "w") as f:
                f.write(text)
            with open(os.path.join(args.dump_configs, base + ".name"), "w") as f:
                f.write(name + "\n")
    print(f"compose_check: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
