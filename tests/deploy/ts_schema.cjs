// Strict field check for Kubernetes objects, from the TypeScript declarations
// (.d.ts) that ship with kubernetes-models.
//
// kubernetes-models' validate() follows the OpenAPI schema, which allows
// unknown fields, so a typo such as `readinesProbe` would pass it, while
// `kubectl apply` (strict field validation) rejects it. The .d.ts files list
// every field of every type; this module parses them (a small parser for the
// subset of TypeScript they use: interfaces, type aliases, object literal
// types, Array<T>, unions, index signatures, imports and re-exports) and
// reports fields an object has that its type does not declare.
//
// API: unknownFields(object, dtsPath, requireFrom) -> ["path: unknown field", ...]
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if (text.startsWith("//", i)) { i = text.indexOf("\n", i); if (i < 0) break; continue; }
    if (text.startsWith("/*", i)) { i = text.indexOf("*/", i) + 2; continue; }
    if (c === '"' || c === "'") {
      let j = i + 1, s = "";
      while (text[j] !== c) { if (text[j] === "\\") j++; s += text[j++]; }
      tokens.push({ t: "str", v: s }); i = j + 1; continue;
    }
    const m = /^[A-Za-z_$][\w$]*|^-?\d+(\.\d+)?/.exec(text.slice(i, i + 200));
    if (m) { tokens.push({ t: /\d/.test(m[0][0]) || m[0][0] === "-" ? "num" : "id", v: m[0] }); i += m[0].length; continue; }
    tokens.push({ t: "p", v: c }); i++;
  }
  return tokens;
}

class Parser {
  constructor(tokens) { this.k = tokens; this.i = 0; }
  peek(o = 0) { return this.k[this.i + o]; }
  is(v, o = 0) { const t = this.peek(o); return t !== undefined && t.v === v && t.t !== "str"; }
  next() { return this.k[this.i++]; }
  expect(v) {
    const t = this.next();
    if (!t || t.v !== v) throw new Error(`d.ts parse: expected '${v}', got '${t && t.v}'`);
    return t;
  }
  // Type := ['|'] Primary ('|' Primary)* ; Primary may be followed by '[]'.
  type() {
    if (this.is("|")) this.next();
    const alts = [this.primary()];
    while (this.is("|")) { this.next(); alts.push(this.primary()); }
    return alts.length === 1 ? alts[0] : { kind: "union", alts };
  }
  primary() {
    const t = this.next();
    let ty;
    if (t.t === "str" || t.t === "num") ty = { kind: "leaf" };
    else if (t.v === "{") ty = this.members();
    else if (t.v === "(") { ty = this.type(); this.expect(")"); }
    else if (t.v === "Array" && this.is("<")) { this.next(); ty = { kind: "array", of: this.type() }; this.expect(">"); }
    else if (t.t === "id") {
      let name = t.v;
      while (this.is(".")) { this.next(); name += "." + this.next().v; }
      if (this.is("<")) this.skipAngle();  // Generic arguments: not needed here.
      ty = { kind: "ref", name };
    } else throw new Error(`d.ts parse: unexpected '${t.v}'`);
    while (this.is("[") && this.is("]", 1)) { this.next(); this.next(); ty = { kind: "array", of: ty }; }
    return ty;
  }
  skipAngle() {
    let depth = 0;
    do { const t = this.next(); if (t.v === "<") depth++; else if (t.v === ">") depth--; } while (depth > 0);
  }
  // After '{': ("name" '?'? ':' Type ';' | '[' id ':' id ']' ':' Type ';')* '}'
  members() {
    const props = {};
    let index = null;
    while (!this.is("}")) {
      if (this.is("[")) {
        this.next(); this.next(); this.expect(":"); this.next(); this.expect("]"); this.expect(":");
        index = this.type();
      } else {
        const name = this.next().v;
        if (this.is("?")) this.next();
        this.expect(":");
        props[name] = this.type();
      }
      if (this.is(";") || this.is(",")) this.next();
    }
    this.expect("}");
    return { kind: "object", props, index };
  }
  skipStatement() {  // Up to the ';' or the '}' closing a top-level block.
    let depth = 0;
    for (;;) {
      const t = this.next();
      if (!t) return;
      if (t.t === "str") continue;
      if (t.v === "{" || t.v === "(") depth++;
      else if (t.v === "}" || t.v === ")") { depth--; if (depth === 0 && t.v === "}" && !this.is(";")) return; }
      else if (t.v === ";" && depth === 0) return;
    }
  }
}

// Parses a .d.ts file into { imports: {local: {spec, name}}, decls: {name: type},
// aliases: {exported: local}, first: name of the first interface }.
function parseModule(file) {
  const p = new Parser(tokenize(fs.readFileSync(file, "utf8")));
  const mod = { file, imports: {}, decls: {}, aliases: {}, first: null };
  while (p.peek()) {
    if (p.is("import") && p.is("{", 1)) {
      p.next(); p.next();
      const names = [];
      while (!p.is("}")) {
        const a = p.next().v;
        let local = a;
        if (p.is("as")) { p.next(); local = p.next().v; }
        names.push([a, local]);
        if (p.is(",")) p.next();
      }
      p.expect("}"); p.expect("from");
      const spec = p.next().v;
      for (const [a, local] of names) mod.imports[local] = { spec, name: a };
      if (p.is(";")) p.next();
    } else if (p.is("export") && p.is("interface", 1)) {
      p.next(); p.next();
      const name = p.next().v;
      const bases = [];
      if (p.is("extends")) {
        p.next();
        while (!p.is("{")) { const t = p.next(); if (t.t === "id") bases.push(t.v); if (p.is("<")) p.skipAngle(); }
      }
      p.expect("{");
      const ty = p.members();
      ty.bases = bases;
      mod.decls[name] = ty;
      if (!mod.first) mod.first = name;
    } else if (p.is("export") && p.is("type", 1)) {
      p.next(); p.next();
      const name = p.next().v;
      if (p.is("<")) p.skipAngle();
      p.expect("=");
      mod.decls[name] = p.type();
      if (p.is(";")) p.next();
    } else if (p.is("export") && p.is("{", 1)) {
      p.next(); p.next();
      while (!p.is("}")) {
        const a = p.next().v;
        let b = a;
        if (p.is("as")) { p.next(); b = p.next().v; }
        mod.aliases[b] = a;
        if (p.is(",")) p.next();
      }
      p.next();
      if (p.is(";")) p.next();
    } else {
      p.skipStatement();
    }
  }
  return mod;
}

class TypeUniverse {
  constructor() { this.modules = new Map(); }
  module(file) {
    if (!this.modules.has(file)) this.modules.set(file, parseModule(file));
    return this.modules.get(file);
  }
  // The type a name denotes inside `mod`, or null (external / unknown: leaf).
  resolve(mod, name) {
    const local = mod.aliases[name] || name;
    if (mod.decls[local]) return { mod, type: mod.decls[local] };
    const imp = mod.imports[local];
    if (!imp) return null;
    let target;
    try {
      target = createRequire(mod.file).resolve(imp.spec).replace(/\.(c|m)?js$/, ".d.ts");
    } catch (e) {
      const rel = path.resolve(path.dirname(mod.file), imp.spec + ".d.ts");
      if (!fs.existsSync(rel)) return null;
      target = rel;
    }
    if (!fs.existsSync(target)) return null;
    return this.resolve(this.module(target), imp.name);
  }
}

const universe = new TypeUniverse();

// Returns the errors of `value` against `type` (defined in `mod`).
function check(value, type, mod, where, errors, depth = 0) {
  if (depth > 60 || value === null || typeof value !== "object") return;
  switch (type.kind) {
    case "leaf": return;
    case "ref": {
      const r = universe.resolve(mod, type.name);
      if (r) check(value, r.type, r.mod, where, errors, depth + 1);
      return;
    }
    case "array":
      if (Array.isArray(value)) value.forEach((v, i) => check(v, type.of, mod, `${where}[${i}]`, errors, depth + 1));
      return;
    case "union": {
      // The first alternative that accepts the value wins; else report the
      // errors of the first object-shaped alternative.
      let firstErrors = null;
      for (const alt of type.alts) {
        const e = [];
        check(value, alt, mod, where, e, depth + 1);
        if (e.length === 0) return;
        if (!firstErrors) firstErrors = e;
      }
      errors.push(...firstErrors);
      return;
    }
    case "object": {
      if (Array.isArray(value)) return;
      const props = { ...type.props };
      for (const b of type.bases || []) {
        const r = universe.resolve(mod, b);
        if (r && r.type.kind === "object") Object.assign(props, r.type.props);
      }
      for (const [k, v] of Object.entries(value)) {
        if (props[k]) check(v, props[k], mod, `${where}.${k}`, errors, depth + 1);
        else if (type.index) check(v, type.index, mod, `${where}.${k}`, errors, depth + 1);
        else if (!(type.bases || []).includes("TypeMeta") || (k !== "apiVersion" && k !== "kind")) {
          errors.push(`${where}.${k}: unknown field`);
        }
      }
      return;
    }
    default: return;
  }
}

// `dtsPath`: the .d.ts of the object's class (e.g. .../apps/v1/Deployment.d.ts).
function unknownFields(object, dtsPath) {
  const mod = universe.module(dtsPath);
  if (!mod.first) throw new Error(`no interface in ${dtsPath}`);
  const errors = [];
  check(object, mod.decls[mod.first], mod, "", errors);
  return errors.map((e) => e.replace(/^\./, ""));
}

module.exports = { unknownFields, parseModule };
