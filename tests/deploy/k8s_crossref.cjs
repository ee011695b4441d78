// Cross-reference checks over a rendered set of Kubernetes objects: what the
// API server's schema cannot see because it spans objects.
//
//   generic:  unique names; workload selectors match their pod templates;
//             volumes, ConfigMaps (and keys), Secrets, PVCs exist; probe
//             ports exist in the container; GPU requests equal limits;
//             StatefulSet serviceName is a headless Service over its pods;
//             Service selectors and targetPorts; PDB selectors; HPA targets
//             (and their metrics offered by the adapter); ServiceMonitor
//             selectors and ports.
//   infernum: see infernum_checks.cjs.
//
// API: crossCheck(objects, {externalSecrets, adapterMetrics}) ->
//      {errors: [], notes: [], index}
"use strict";

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function selectorMatches(sel, labels) {
  if (!sel) return false;
  labels = labels || {};
  const ml = sel.matchLabels || {};
  const exprs = sel.matchExpressions || [];
  if (Object.keys(ml).length === 0 && exprs.length === 0) return true;
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of exprs) {
    const has = e.key in labels;
    const inv = (e.values || []).includes(labels[e.key]);
    if (e.operator === "In" && !(has && inv)) return false;
    if (e.operator === "NotIn" && has && inv) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

class Index {
  constructor(objects) {
    this.objects = objects;
  }
  ns(o) { return (o.metadata && o.metadata.namespace) || "default"; }
  of(kind, ns) { return this.objects.filter((o) => o.kind === kind && (ns === undefined || this.ns(o) === ns)); }
  find(kind, ns, name) { return this.objects.find((o) => o.kind === kind && this.ns(o) === ns && o.metadata.name === name); }
  workloads(ns) { return this.objects.filter((o) => WORKLOAD_KINDS.has(o.kind) && (ns === undefined || this.ns(o) === ns)); }
  podLabels(w) { return (w.spec.template.metadata || {}).labels || {}; }
  // Workloads whose pods a Service-style selector (plain map) selects.
  selectedByMap(ns, map) {
    if (!map || Object.keys(map).length === 0) return [];
    return this.workloads(ns).filter((w) => selectorMatches({ matchLabels: map }, this.podLabels(w)));
  }
}

function label(o) { return `${o.kind}/${o.metadata && o.metadata.name}`; }

function containersOf(w) {
  const spec = w.spec.template.spec || {};
  return [...(spec.initContainers || []), ...(spec.containers || [])];
}

function checkNames(idx, errors) {
  const seen = new Set();
  for (const o of idx.objects) {
    const name = o.metadata.name;
    if (!name) { errors.push(`${o.kind}: metadata.name missing`); continue; }
    const key = `${o.apiVersion}/${o.kind}/${idx.ns(o)}/${name}`;
    if (seen.has(key)) errors.push(`${label(o)}: defined twice in namespace ${idx.ns(o)}`);
    seen.add(key);
    const re = o.kind === "Service" ? DNS1035_LABEL : o.kind === "Namespace" ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    if (!re.test(name) || name.length > (o.kind === "Service" || o.kind === "Namespace" ? 63 : 253)) {
      errors.push(`${label(o)}: invalid name "${name}"`);
    }
    for (const [k, v] of Object.entries(o.metadata.labels || {})) {
      if (String(v).length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(String(v))) {
        errors.push(`${label(o)}: invalid label value ${k}=${v}`);
      }
    }
  }
}

function checkProbePort(w, c, probeName, errors) {
  const p = c[probeName];
  if (!p) return;
  const ports = c.ports || [];
  const action = p.httpGet || p.tcpSocket || p.grpc;
  if (!action) return;
  const port = action.port;
  const ok = typeof port === "string" ? ports.some((x) => x.name === port) : ports.some((x) => x.containerPort === port);
  if (!ok) errors.push(`${label(w)} container ${c.name}: ${probeName} port ${port} is not a declared container port`);
}

function checkRefs(idx, w, errors, notes, externalSecrets) {
  const ns = idx.ns(w);
  const spec = w.spec.template.spec || {};
  const volumes = new Map((spec.volumes || []).map((v) => [v.name, v]));
  const needConfigMap = (name, key, optional, where) => {
    const cm = idx.find("ConfigMap", ns, name);
    if (!cm) { if (!optional) errors.push(`${label(w)}: ${where} refers to ConfigMap ${name}, which is not defined`); return; }
    if (key !== undefined && !(key in (cm.data || {})) && !(key in (cm.binaryData || {})) && !optional) {
      errors.push(`${label(w)}: ${where} refers to key ${key} missing from ConfigMap ${name}`);
    }
  };
  const needSecret = (name, key, optional, where) => {
    const s = idx.find("Secret", ns, name);
    if (!s) {
      if (externalSecrets.has(name)) notes.push(`${label(w)}: Secret ${name} is created by the operator (not in the manifests)`);
      else if (!optional) errors.push(`${label(w)}: ${where} refers to Secret ${name}, which is not defined`);
      return;
    }
    const data = { ...(s.data || {}), ...(s.stringData || {}) };
    if (key !== undefined && !(key in data) && !optional) errors.push(`${label(w)}: ${where} refers to key ${key} missing from Secret ${name}`);
  };
  for (const v of volumes.values()) {
    if (v.configMap) for (const it of v.configMap.items || [{}]) needConfigMap(v.configMap.name, it.key, v.configMap.optional, `volume ${v.name}`);
    if (v.secret) needSecret(v.secret.secretName, undefined, v.secret.optional, `volume ${v.name}`);
    if (v.persistentVolumeClaim && !idx.find("PersistentVolumeClaim", ns, v.persistentVolumeClaim.claimName)) {
      errors.push(`${label(w)}: volume ${v.name} refers to PVC ${v.persistentVolumeClaim.claimName}, which is not defined`);
    }
  }
  const names = new Set();
  for (const c of containersOf(w)) {
    if (names.has(c.name)) errors.push(`${label(w)}: two containers named ${c.name}`);
    names.add(c.name);
    const portNames = new Set();
    for (const p of c.ports || []) {
      if (p.name === undefined) continue;
      if (portNames.has(p.name)) errors.push(`${label(w)} container ${c.name}: port name ${p.name} used twice`);
      portNames.add(p.name);
      if (p.name.length > 15 || !PORT_NAME.test(p.name) || !/[a-z]/.test(p.name)) errors.push(`${label(w)} container ${c.name}: invalid port name ${p.name}`);
    }
    for (const m of c.volumeMounts || []) {
      if (!volumes.has(m.name)) errors.push(`${label(w)} container ${c.name}: volumeMount ${m.name} has no volume`);
    }
    for (const e of c.env || []) {
      const vf = e.valueFrom || {};
      if (vf.configMapKeyRef) needConfigMap(vf.configMapKeyRef.name, vf.configMapKeyRef.key, vf.configMapKeyRef.optional, `env ${e.name}`);
      if (vf.secretKeyRef) needSecret(vf.secretKeyRef.name, vf.secretKeyRef.key, vf.secretKeyRef.optional, `env ${e.name}`);
    }
    for (const ef of c.envFrom || []) {
      if (ef.configMapRef) needConfigMap(ef.configMapRef.name, undefined, ef.configMapRef.optional, "envFrom");
      if (ef.secretRef) needSecret(ef.secretRef.name, undefined, ef.secretRef.optional, "envFrom");
    }
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) checkProbePort(w, c, probe, errors);
    const res = c.resources || {};
    for (const [r, q] of Object.entries(res.requests || {})) {
      if (!r.includes("/") || r.startsWith("kubernetes.io/")) continue;
      if (!res.limits || String(res.limits[r]) !== String(q)) errors.push(`${label(w)} container ${c.name}: extended resource ${r} request must equal its limit`);
    }
  }
}

function checkWorkloads(idx, errors, notes, externalSecrets) {
  for (const w of idx.workloads()) {
    const tmplLabels = idx.podLabels(w);
    if (!selectorMatches(w.spec.selector, tmplLabels)) errors.push(`${label(w)}: spec.selector does not match the pod template labels`);
    checkRefs(idx, w, errors, notes, externalSecrets);
    if (w.kind === "StatefulSet") {
      const svc = idx.find("Service", idx.ns(w), w.spec.serviceName);
      if (!svc) errors.push(`${label(w)}: serviceName ${w.spec.serviceName} is not a defined Service`);
      else {
        if (svc.spec.clusterIP !== "None") errors.push(`${label(w)}: serviceName ${svc.metadata.name} must be headless (clusterIP: None)`);
        if (!idx.selectedByMap(idx.ns(w), svc.spec.selector).includes(w)) errors.push(`${label(w)}: Service ${svc.metadata.name} does not select its pods`);
      }
    }
  }
}

function checkServices(idx, errors) {
  for (const s of idx.of("Service")) {
    if (!s.spec.selector) continue;  // Manually managed endpoints.
    const targets = idx.selectedByMap(idx.ns(s), s.spec.selector);
    if (targets.length === 0) { errors.push(`${label(s)}: selector ${JSON.stringify(s.spec.selector)} matches no pod template`); continue; }
    for (const p of s.spec.ports || []) {
      const tp = p.targetPort === undefined ? p.port : p.targetPort;
      for (const w of targets) {
        const ok = containersOf(w).some((c) => (c.ports || []).some((x) => (typeof tp === "string" ? x.name === tp : x.containerPort === tp)));
        if (!ok) errors.push(`${label(s)}: port ${p.name || p.port} targets ${tp}, not a container port of ${label(w)}`);
      }
    }
  }
}

function checkPdbs(idx, errors) {
  for (const p of idx.of("PodDisruptionBudget")) {
    const hits = idx.workloads(idx.ns(p)).filter((w) => selectorMatches(p.spec.selector, idx.podLabels(w)));
    if (hits.length === 0) errors.push(`${label(p)}: selector matches no pod template`);
    if ((p.spec.minAvailable === undefined) === (p.spec.maxUnavailable === undefined)) {
      errors.push(`${label(p)}: set exactly one of minAvailable / maxUnavailable`);
    }
  }
}

function checkHpas(idx, errors, notes, adapterMetrics) {
  for (const h of idx.of("HorizontalPodAutoscaler")) {
    const ref = h.spec.scaleTargetRef;
    const t = idx.find(ref.kind, idx.ns(h), ref.name);
    if (!t) { errors.push(`${label(h)}: scaleTargetRef ${ref.kind}/${ref.name} is not defined`); continue; }
    if (ref.apiVersion && ref.apiVersion !== t.apiVersion) errors.push(`${label(h)}: scaleTargetRef apiVersion ${ref.apiVersion} != ${t.apiVersion}`);
    const min = h.spec.minReplicas === undefined ? 1 : h.spec.minReplicas;
    if (min > h.spec.maxReplicas) errors.push(`${label(h)}: minReplicas > maxReplicas`);
    if (t.spec.replicas !== undefined) notes.push(`${label(t)}: spec.replicas is set although ${label(h)} scales it (each apply resets it)`);
    for (const m of h.spec.metrics || []) {
      const spec = m.pods || m.object || m.external;
      if (!spec) continue;
      const name = spec.metric.name;
      if (adapterMetrics && !adapterMetrics.includes(name)) {
        errors.push(`${label(h)}: metric ${name} is not exposed by the metrics adapter rules (${adapterMetrics.join(", ") || "none"})`);
      }
    }
  }
}

function checkServiceMonitors(idx, errors) {
  for (const sm of idx.of("ServiceMonitor")) {
    const nsSel = sm.spec.namespaceSelector || {};
    const svcs = idx.of("Service").filter((s) =>
      (nsSel.any || (nsSel.matchNames ? nsSel.matchNames.includes(idx.ns(s)) : idx.ns(s) === idx.ns(sm))) &&
      selectorMatches(sm.spec.selector, s.metadata.labels));
    if (svcs.length === 0) { errors.push(`${label(sm)}: selector matches no Service`); continue; }
    for (const ep of sm.spec.endpoints || []) {
      for (const s of svcs) {
        if (ep.port && !(s.spec.ports || []).some((p) => p.name === ep.port)) {
          errors.push(`${label(sm)}: endpoint port ${ep.port} is not a named port of ${label(s)}`);
        }
      }
    }
  }
}

function crossCheck(objects, { externalSecrets = new Set(), adapterMetrics = null } = {}) {
  const idx = new Index(objects);
  const errors = [];
  const notes = [];
  checkNames(idx, errors);
  checkWorkloads(idx, errors, notes, externalSecrets);
  checkServices(idx, errors);
  checkPdbs(idx, errors);
  checkHpas(idx, errors, notes, adapterMetrics);
  checkServiceMonitors(idx, errors);
  const namespaces = new Set(idx.of("Namespace").map((n) => n.metadata.name));
  for (const o of objects) {
    if (o.metadata.namespace && !namespaces.has(o.metadata.namespace)) {
      notes.push(`${label(o)}: namespace ${o.metadata.namespace} is not created by these manifests`);
    }
  }
  return { errors, notes: [...new Set(notes)], index: idx };
}

module.exports = { crossCheck, selectorMatches, containersOf, label };
