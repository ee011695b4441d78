#!/usr/bin/env node
// Offline validation of a kustomization (no cluster, no kubectl, no kustomize):
//
//   node tests/deploy/k8s_validate.cjs --kustomize deploy/k8s \
//     [--external-secret NAME]... [--adapter-values FILE] [--dump-configs DIR]
//
// 1. renders it (k8s_render.cjs: the kustomize subset deploy/k8s uses);
// 2. validates every object with npm kubernetes-models (the Kubernetes
//    OpenAPI schema; ServiceMonitor with @kubernetes-models/prometheus-operator,
//    the CRD's schema), plus a strict unknown-field check from their .d.ts
//    (ts_schema.cjs), as `kubectl apply` does server-side;
// 3. cross-references (k8s_crossref.cjs) and Infernum rules (infernum_checks.cjs);
// 4. with --dump-configs, writes every router/worker YAML found in the
//    ConfigMaps as DIR/<role>-<n>.yaml (+ .name), for the binaries to load.
//
// npm packages come from tests/node (npm ci there). Prints one line per object
// and per problem; exit status 1 on any error, 2 on bad usage.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const root = path.resolve(__dirname, "../..");
const req = createRequire(path.join(root, "tests/node/package.json"));
const YAML = req("yaml");
const { render } = require("./k8s_render.cjs");
const { unknownFields } = require("./ts_schema.cjs");
const { crossCheck, label } = require("./k8s_crossref.cjs");
const { infernumChecks } = require("./infernum_checks.cjs");

// Packages that provide model classes, tried in order, as
// <package>/<apiVersion> exporting <kind>.
const MODEL_PACKAGES = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];

function modelFor(apiVersion, kind) {
  for (const pkg of MODEL_PACKAGES) {
    let mod;
    try { mod = req(`${pkg}/${apiVersion}`); } catch (e) { continue; }
    if (mod[kind]) {
      const js = req.resolve(`${pkg}/${apiVersion}/${kind}`);
      return { cls: mod[kind], dts: js.replace(/\.js$/, ".d.ts"), pkg };
    }
  }
  return null;
}

function parseArgs(argv) {
  const a = { kustomize: [], externalSecrets: new Set(), adapterValues: null, dump: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case "--kustomize": a.kustomize.push(v); i++; break;
      case "--external-secret": a.externalSecrets.add(v); i++; break;
      case "--adapter-values": a.adapterValues = v; i++; break;
      case "--dump-configs": a.dump = v; i++; break;
      default: console.error(`k8s_validate: unknown argument ${argv[i]}`); process.exit(2);
    }
  }
  if (a.kustomize.length === 0) { console.error("k8s_validate: --kustomize DIR is required"); process.exit(2); }
  return a;
}

// Metric names the prometheus-adapter rules expose (name.as of each rule).
function adapterMetrics(file) {
  const v = YAML.parse(fs.readFileSync(file, "utf8"), { uniqueKeys: true });
  const rules = (v && v.rules) || {};
  const names = [];
  for (const group of ["custom", "external"]) {
    for (const r of rules[group] || []) {
      if (!r.seriesQuery || !r.metricsQuery || !r.name || !r.name.as) {
        throw new Error(`${file}: a ${group} rule needs seriesQuery, metricsQuery and name.as`);
      }
      names.push(r.name.as);
    }
  }
  return names;
}

function validateObject(o) {
  const problems = [];
  const m = modelFor(o.apiVersion, o.kind);
  if (!m) return { problems: [`no schema for ${o.apiVersion} ${o.kind}`], pkg: null };
  try {
    new m.cls(JSON.parse(JSON.stringify(o))).validate();
  } catch (e) {
    problems.push(...String(e.message).split(/,\s*(?=data)/).map((s) => `schema: ${s}`));
  }
  for (const u of unknownFields(o, m.dts)) problems.push(`schema: ${u}`);
  return { problems, pkg: m.pkg };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let failed = 0;
  for (const dir of args.kustomize) {
    console.log(`== kustomization ${dir}`);
    let items;
    try { items = render(path.resolve(dir), YAML); } catch (e) {
      console.log(`FAIL render: ${e.message}`); failed++; continue;
    }
    // A manifest beside kustomization.yaml that it does not list is never
    // applied: almost certainly a mistake.
    const listed = new Set(items.map((it) => path.resolve(it.source.split(" ")[0])));
    for (const f of fs.readdirSync(dir)) {
      const p = path.resolve(dir, f);
      if (/\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f) && !listed.has(p)) {
        console.log(`FAIL ${path.join(dir, f)}: not listed in the kustomization's resources`); failed++;
      }
    }
    for (const { object, source } of items) {
      const { problems, pkg } = validateObject(object);
      if (problems.length) {
        failed += problems.length;
        for (const p of problems) console.log(`FAIL ${label(object)} (${source}): ${p}`);
      } else {
        console.log(`ok   ${object.apiVersion} ${label(object)} (${pkg})`);
      }
    }
    let metrics = null;
    if (args.adapterValues) {
      try { metrics = adapterMetrics(args.adapterValues); } catch (e) { console.log(`FAIL ${e.message}`); failed++; }
    }
    const objects = items.map((it) => it.object);
    const cross = crossCheck(objects, { externalSecrets: args.externalSecrets, adapterMetrics: metrics });
    const inf = infernumChecks(cross.index, YAML);
    for (const e of [...cross.errors, ...inf.errors]) { console.log(`FAIL cross-check: ${e}`); failed++; }
    for (const n of [...cross.notes, ...inf.notes]) console.log(`note ${n}`);
    console.log(`cross-checks: ${cross.errors.length + inf.errors.length} problem(s) over ${objects.length} objects`);
    if (args.dump) {
      fs.mkdirSync(args.dump, { recursive: true });
      inf.configs.forEach((c, i) => {
        const base = path.join(args.dump, `${c.role}-${i}`);
        fs.writeFileSync(`${base}.yaml`, c.text);
        fs.writeFileSync(`${base}.name`, c.name + "\n");
      });
    }
  }
  console.log(failed ? `k8s_validate: ${failed} problem(s)` : "k8s_validate: all objects valid");
  process.exit(failed ? 1 : 0);
}

main();
