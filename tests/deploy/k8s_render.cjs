// Renders a kustomization directory the way `kustomize build` would, for the
// subset of kustomize that deploy/k8s uses, without kustomize or kubectl:
// resources (files and directories), namespace, labels / commonLabels,
// commonAnnotations, configMapGenerator / secretGenerator (files, literals,
// envs), generatorOptions, images, and JSON 6902 patches with a target. Any
// other kustomization field is an error (the validator would otherwise
// silently check something other than what kubectl applies).
//
// Generated ConfigMaps / Secrets keep their plain names: kustomize appends a
// content hash and rewrites the references to it, so references by the plain
// name are the ones to check.
//
// API: render(dir, YAML) -> [{ object, source }]  (YAML: the npm `yaml` module)
"use strict";
const fs = require("fs");
const path = require("path");

const KNOWN_FIELDS = new Set([
  "apiVersion", "kind", "namespace", "labels", "commonLabels", "commonAnnotations",
  "resources", "configMapGenerator", "secretGenerator", "generatorOptions",
  "images", "patches",
]);

// Kinds that have no namespace (the ones a deployment like this might use).
const CLUSTER_SCOPED = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
  "PersistentVolume", "StorageClass", "PriorityClass", "APIService",
  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "RuntimeClass",
  "IngressClass",
]);

function parseYamlDocs(YAML, file) {
  const text = fs.readFileSync(file, "utf8");
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true });
  const out = [];
  docs.forEach((d, i) => {
    if (d.errors.length) throw new Error(`${file} (document ${i + 1}): ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  });
  return out;
}

function generated(kind, gen, dir, options) {
  if (!gen.name) throw new Error(`${kind} generator without a name in ${dir}`);
  if (gen.behavior && gen.behavior !== "create") {
    throw new Error(`${kind} generator ${gen.name}: behavior ${gen.behavior} is not emulated`);
  }
  const data = {};
  const put = (k, v, from) => {
    if (k in data) throw new Error(`${kind} ${gen.name}: duplicate key ${k} (${from})`);
    data[k] = v;
  };
  for (const f of gen.files || []) {
    const [key, rel] = f.includes("=") ? f.split("=", 2) : [path.basename(f), f];
    const file = path.resolve(dir, rel);
    if (!fs.existsSync(file)) throw new Error(`${kind} ${gen.name}: file not found: ${rel}`);
    put(key, fs.readFileSync(file, "utf8"), rel);
  }
  for (const l of gen.literals || []) {
    const i = l.indexOf("=");
    if (i <= 0) throw new Error(`${kind} ${gen.name}: bad literal ${l}`);
    put(l.slice(0, i), l.slice(i + 1), "literal");
  }
  for (const e of gen.envs || []) {
    const file = path.resolve(dir, e);
    if (!fs.existsSync(file)) throw new Error(`${kind} ${gen.name}: env file not found: ${e}`);
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const t = line.trim();
      if (!t || t.startsWith("#")) continue;
      const i = t.indexOf("=");
      put(t.slice(0, i), t.slice(i + 1), e);
    }
  }
  const object = {
    apiVersion: "v1", kind, metadata: { name: gen.name },
  };
  const labels = { ...(options.labels || {}), ...(gen.options && gen.options.labels) };
  if (Object.keys(labels).length) object.metadata.labels = labels;
  if (kind === "Secret") {
    object.type = gen.type || "Opaque";
    object.data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  } else {
    object.data = data;
  }
  return object;
}

// JSON pointer (RFC 6901) helpers for RFC 6902 patches.
function pointer(p) {
  if (p === "") return [];
  if (!p.startsWith("/")) throw new Error(`bad JSON pointer ${p}`);
  return p.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}
function applyOp(doc, op) {
  const keys = pointer(op.path);
  const last = keys.pop();
  let parent = doc;
  for (const k of keys) {
    if (parent === null || typeof parent !== "object" || !(k in parent)) {
      throw new Error(`patch ${op.op} ${op.path}: path not found`);
    }
    parent = parent[k];
  }
  const isArr = Array.isArray(parent);
  const idx = isArr ? (last === "-" ? parent.length : Number(last)) : last;
  switch (op.op) {
    case "add":
      if (isArr) parent.splice(idx, 0, op.value); else parent[idx] = op.value;
      break;
    case "replace":
      if (!(idx in parent)) throw new Error(`patch replace ${op.path}: path not found`);
      parent[idx] = op.value;
      break;
    case "remove":
      if (!(idx in parent)) throw new Error(`patch remove ${op.path}: path not found`);
      if (isArr) parent.splice(idx, 1); else delete parent[idx];
      break;
    default:
      throw new Error(`patch op ${op.op} is not emulated`);
  }
}

function matchesTarget(object, target) {
  const m = object.metadata || {};
  if (target.kind && target.kind !== object.kind) return false;
  if (target.name && target.name !== m.name) return false;
  if (target.namespace && target.namespace !== m.namespace) return false;
  if (target.group !== undefined || target.version !== undefined) {
    const [g, v] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
    if (target.group !== undefined && target.group !== g) return false;
    if (target.version !== undefined && target.version !== v) return false;
  }
  return true;
}

function addLabels(object, pairs, selectors, templates) {
  const meta = (object.metadata = object.metadata || {});
  meta.labels = { ...(meta.labels || {}), ...pairs };
  const spec = object.spec;
  if (!spec) return;
  if (templates || selectors) {
    if (spec.template) {
      spec.template.metadata = spec.template.metadata || {};
      spec.template.metadata.labels = { ...(spec.template.metadata.labels || {}), ...pairs };
    }
  }
  if (selectors) {
    if (object.kind === "Service") spec.selector = { ...(spec.selector || {}), ...pairs };
    else if (spec.selector && typeof spec.selector === "object") {
      spec.selector.matchLabels = { ...(spec.selector.matchLabels || {}), ...pairs };
    }
  }
}

function render(dir, YAML) {
  const kfile = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
    .map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!kfile) throw new Error(`no kustomization.yaml in ${dir}`);
  const [k] = parseYamlDocs(YAML, kfile);
  for (const field of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(field)) throw new Error(`${kfile}: field ${field} is not emulated by the validator`);
  }
  if (k.kind && k.kind !== "Kustomization") throw new Error(`${kfile}: kind ${k.kind}`);
  const items = [];
  for (const r of k.resources || []) {
    if (/^[a-z]+:\/\//.test(r) || r.includes("?ref=")) throw new Error(`${kfile}: remote resource ${r} is not allowed`);
    const p = path.resolve(dir, r);
    if (!fs.existsSync(p)) throw new Error(`${kfile}: resource not found: ${r}`);
    if (fs.statSync(p).isDirectory()) items.push(...render(p, YAML));
    else for (const o of parseYamlDocs(YAML, p)) items.push({ object: o, source: path.relative(process.cwd(), p) });
  }
  const options = k.generatorOptions || {};
  for (const g of k.configMapGenerator || []) items.push({ object: generated("ConfigMap", g, dir, options), source: `${path.relative(process.cwd(), kfile)} configMapGenerator` });
  for (const g of k.secretGenerator || []) items.push({ object: generated("Secret", g, dir, options), source: `${path.relative(process.cwd(), kfile)} secretGenerator` });

  for (const patch of k.patches || []) {
    const body = patch.path ? parseYamlDocs(YAML, path.resolve(dir, patch.path))[0] : YAML.parse(patch.patch);
    if (!Array.isArray(body)) throw new Error(`${kfile}: only JSON 6902 patches (a list of ops) are emulated`);
    if (!patch.target) throw new Error(`${kfile}: a JSON 6902 patch needs a target`);
    const hits = items.filter((it) => matchesTarget(it.object, patch.target));
    if (hits.length === 0) throw new Error(`${kfile}: patch target ${JSON.stringify(patch.target)} matches nothing`);
    for (const it of hits) for (const op of body) applyOp(it.object, op);
  }
  for (const img of k.images || []) {
    for (const it of items) {
      const spec = it.object.spec && it.object.spec.template && it.object.spec.template.spec;
      for (const c of (spec && [...(spec.containers || []), ...(spec.initContainers || [])]) || []) {
        const base = c.image.replace(/[@:][^/]*$/, "");
        if (base !== img.name) continue;
        c.image = (img.newName || base) + (img.digest ? `@${img.digest}` : `:${img.newTag || c.image.split(":").pop()}`);
      }
    }
  }
  for (const it of items) {
    const o = it.object;
    if (!o || typeof o !== "object" || !o.kind) throw new Error(`${it.source}: an object without kind`);
    o.metadata = o.metadata || {};
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    for (const l of k.labels || []) addLabels(o, l.pairs || {}, !!l.includeSelectors, !!l.includeTemplates);
    if (k.commonLabels) addLabels(o, k.commonLabels, true, true);
    if (k.commonAnnotations) o.metadata.annotations = { ...(o.metadata.annotations || {}), ...k.commonAnnotations };
  }
  return items;
}

module.exports = { render, parseYamlDocs, CLUSTER_SCOPED };
