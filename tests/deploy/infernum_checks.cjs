// Infernum-specific checks over rendered Kubernetes objects: each router /
// worker container's YAML config (from its mounted ConfigMap) must agree
// with the manifests around it.
//
//   router: listen port is a container port; /ready readiness and /live
//           liveness probes; terminationGracePeriodSeconds > preStop sleep +
//           shutdown_grace_s; API keys from a Secret through api_key_env (never
//           in the ConfigMap); every models[].dns names a headless Service in
//           the manifests, on a port it serves, whose pods are workers that
//           serve that model (served_model_name) on that port.
//   worker: listen / metrics_listen ports are container ports; gRPC
//           readiness and liveness probes on the listen port; a GPU limit for
//           backend cuda; terminationGracePeriodSeconds > shutdown_grace_seconds;
//           the model path lies on a mounted volume.
//
// API: infernumChecks(index, YAML) -> {errors, notes, configs: [{name, role, text}]}
"use strict";
const path = require("path");
const { containersOf, label } = require("./k8s_crossref.cjs");

function portOf(listen) {
  const m = /:(\d+)$/.exec(String(listen || ""));
  return m ? Number(m[1]) : null;
}

function roleOf(c) {
  const m = /infernum-(router|worker)(?::[^/]*)?(?:@.*)?$/.exec(c.image || "");
  return m ? m[1] : null;
}

function configPath(c, role) {
  const argv = [...(c.command || []), ...(c.args || [])];
  const i = argv.indexOf("--config");
  if (i >= 0 && argv[i + 1]) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith("--config="));
  return eq ? eq.slice(9) : `/etc/infernum/${role}.yaml`;  // The image ENTRYPOINT.
}

// The ConfigMap key mounted at `file` in container c of workload w.
function mountedConfig(idx, w, c, file) {
  const vols = new Map(((w.spec.template.spec || {}).volumes || []).map((v) => [v.name, v]));
  for (const m of c.volumeMounts || []) {
    const v = vols.get(m.name);
    if (!v || !v.configMap) continue;
    let key = null;
    if (m.subPath && m.mountPath === file) key = m.subPath;
    else if (!m.subPath && path.dirname(file) === m.mountPath.replace(/\/$/, "")) {
      key = path.basename(file);
      const item = (v.configMap.items || []).find((it) => it.path === key);
      if (item) key = item.key;
      else if (v.configMap.items) key = null;
    }
    if (key === null) continue;
    const cm = idx.find("ConfigMap", idx.ns(w), v.configMap.name);
    if (cm && cm.data && key in cm.data) return { cm, key, text: cm.data[key] };
  }
  return null;
}

function preStopSleep(c) {
  const cmd = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
  return cmd[0] === "sleep" ? Number(cmd[1]) || 0 : 0;
}

function gpuLimit(c) {
  return Number(((c.resources || {}).limits || {})["nvidia.com/gpu"] || 0);
}

class Checker {
  constructor(idx, YAML) {
    this.idx = idx; this.YAML = YAML;
    this.errors = []; this.notes = []; this.configs = new Map();
    this.workers = [];  // {w, c, config}
    this.routers = [];
  }

  load(w, c, role) {
    const file = configPath(c, role);
    const m = mountedConfig(this.idx, w, c, file);
    if (!m) { this.errors.push(`${label(w)} container ${c.name}: no ConfigMap key is mounted at ${file} (--config)`); return null; }
    let config;
    try { config = this.YAML.parse(m.text, { uniqueKeys: true }) || {}; } catch (e) {
      this.errors.push(`ConfigMap ${m.cm.metadata.name} key ${m.key}: YAML error: ${e.message}`); return null;
    }
    this.configs.set(`${m.cm.metadata.name}:${m.key}`, { name: `k8s ConfigMap ${m.cm.metadata.name} ${m.key}`, role, text: m.text });
    return config;
  }

  collect() {
    for (const w of this.idx.workloads()) {
      for (const c of containersOf(w)) {
        const role = roleOf(c);
        if (!role) continue;
        const config = this.load(w, c, role);
        if (!config) continue;
        (role === "router" ? this.routers : this.workers).push({ w, c, config });
      }
    }
  }

  hasPort(c, port) { return (c.ports || []).some((p) => p.containerPort === port); }

  grace(w) {
    const g = w.spec.template.spec.terminationGracePeriodSeconds;
    return g === undefined ? 30 : g;
  }

  checkWorker({ w, c, config }) {
    const where = `${label(w)} container ${c.name}`;
    const listen = portOf(config.listen || "0.0.0.0:50051");
    if (!this.hasPort(c, listen)) this.errors.push(`${where}: worker listen port ${listen} is not a container port`);
    if (config.metrics_listen) {
      const mp = portOf(config.metrics_listen);
      if (!this.hasPort(c, mp)) this.errors.push(`${where}: metrics_listen port ${mp} is not a container port`);
    } else this.notes.push(`${where}: metrics_listen not set: no worker metrics`);
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const p = c[probe];
      if (!p || !p.grpc) this.errors.push(`${where}: ${probe} must be a gRPC health probe`);
      else if (p.grpc.port !== listen) this.errors.push(`${where}: ${probe} gRPC port ${p.grpc.port} != listen port ${listen}`);
    }
    const backend = config.backend || "cpu";
    // The binary check overrides backend and the ports, so their values are
    // checked here (the values worker_config.cc accepts).
    if (!["cpu", "cuda"].includes(backend)) this.errors.push(`${where}: backend must be cpu or cuda, not ${backend}`);
    if (listen === null) this.errors.push(`${where}: listen ${config.listen} is not host:port`);
    if (config.metrics_listen && portOf(config.metrics_listen) === null) this.errors.push(`${where}: metrics_listen ${config.metrics_listen} is not host:port`);
    if (backend === "cuda" && gpuLimit(c) < 1) this.errors.push(`${where}: backend cuda needs a nvidia.com/gpu limit`);
    if (backend === "cpu" && gpuLimit(c) > 0) this.notes.push(`${where}: backend cpu but a GPU is requested`);
    const drain = config.shutdown_grace_seconds === undefined ? 30 : Number(config.shutdown_grace_seconds);
    if (!(this.grace(w) > drain)) this.errors.push(`${where}: terminationGracePeriodSeconds ${this.grace(w)} must exceed shutdown_grace_seconds ${drain}`);
    const model = config.model || config.model_config;
    if (model && !(c.volumeMounts || []).some((m) => model.startsWith(m.mountPath.replace(/\/$/, "") + "/"))) {
      this.errors.push(`${where}: model path ${model} is not on a mounted volume`);
    }
  }

  servedName(config) {
    if (config.served_model_name) return config.served_model_name;
    const m = config.model || config.model_config || "";
    return path.basename(m.replace(/\/$/, "")).replace(/\.json$/, "");
  }

  checkRouter({ w, c, config }) {
    const where = `${label(w)} container ${c.name}`;
    const listen = portOf(config.listen || "0.0.0.0:8000");
    if (!this.hasPort(c, listen)) this.errors.push(`${where}: router listen port ${listen} is not a container port`);
    const rp = (c.readinessProbe || {}).httpGet;
    const lp = (c.livenessProbe || {}).httpGet;
    if (!rp || rp.path !== "/ready") this.errors.push(`${where}: readinessProbe must be httpGet /ready`);
    if (!lp || lp.path !== "/live") this.errors.push(`${where}: livenessProbe must be httpGet /live`);
    const drain = config.shutdown_grace_s === undefined ? 30 : Number(config.shutdown_grace_s);
    const need = drain + preStopSleep(c);
    if (!(this.grace(w) > need)) this.errors.push(`${where}: terminationGracePeriodSeconds ${this.grace(w)} must exceed preStop sleep + shutdown_grace_s (${need})`);
    if ((config.api_keys || []).length) this.errors.push(`${where}: api_keys in a ConfigMap; put them in a Secret (api_key_env)`);
    const envName = config.api_key_env || "INFERNUM_API_KEYS";
    const env = (c.env || []).find((e) => e.name === envName);
    if (!env) this.notes.push(`${where}: ${envName} is not set: API auth is off`);
    else if (!(env.valueFrom && env.valueFrom.secretKeyRef)) this.errors.push(`${where}: ${envName} must come from a Secret (secretKeyRef)`);
    const models = config.models || [];
    if (models.length === 0 && !(config.workers || []).length) this.errors.push(`${where}: router config has no models and no workers`);
    for (const m of models) this.checkModelDns(where, w, m);
  }

  checkModelDns(where, w, m) {
    if (!m.dns) { this.notes.push(`${where}: model ${m.name} uses static workers only`); return; }
    const mm = /^([^:]+):(\d+)$/.exec(m.dns);
    if (!mm) { this.errors.push(`${where}: model ${m.name} dns ${m.dns} is not host:port`); return; }
    const parts = mm[1].split(".");
    const svcName = parts[0];
    const ns = parts.length > 1 ? parts[1] : this.idx.ns(w);
    if (parts.length > 2 && parts[2] !== "svc") this.errors.push(`${where}: model ${m.name} dns ${m.dns} is not a Service name`);
    const svc = this.idx.find("Service", ns, svcName);
    if (!svc) { this.errors.push(`${where}: model ${m.name} dns ${m.dns}: no Service ${svcName} in namespace ${ns}`); return; }
    if (svc.spec.clusterIP !== "None") this.errors.push(`${where}: model ${m.name}: Service ${svcName} must be headless (clusterIP: None) so DNS lists every worker`);
    const port = Number(mm[2]);
    const sp = (svc.spec.ports || []).find((p) => p.port === port);
    if (!sp) { this.errors.push(`${where}: model ${m.name}: Service ${svcName} has no port ${port}`); return; }
    const pods = this.idx.selectedByMap(ns, svc.spec.selector);
    const workers = this.workers.filter((x) => pods.includes(x.w));
    if (workers.length === 0) this.errors.push(`${where}: model ${m.name}: Service ${svcName} selects no infernum worker`);
    for (const x of workers) {
      const served = this.servedName(x.config);
      if (served !== m.name) this.errors.push(`${where}: model ${m.name}: ${label(x.w)} serves "${served}"`);
      const tp = sp.targetPort === undefined ? sp.port : sp.targetPort;
      const cport = typeof tp === "string" ? ((x.c.ports || []).find((p) => p.name === tp) || {}).containerPort : tp;
      const listen = portOf(x.config.listen || "0.0.0.0:50051");
      if (cport !== listen) this.errors.push(`${where}: model ${m.name}: Service ${svcName} port ${port} reaches ${cport}, the worker listens on ${listen}`);
    }
  }
}

function infernumChecks(idx, YAML) {
  const ch = new Checker(idx, YAML);
  ch.collect();
  ch.workers.forEach((x) => ch.checkWorker(x));
  ch.routers.forEach((x) => ch.checkRouter(x));
  if (ch.routers.length === 0) ch.errors.push("no infernum-router container found");
  if (ch.workers.length === 0) ch.errors.push("no infernum-worker container found");
  return { errors: ch.errors, notes: ch.notes, configs: [...ch.configs.values()] };
}

module.exports = { infernumChecks, portOf };
