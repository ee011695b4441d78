// Reference encoder for the tokenizer parity test.
//
// Encodes every string of a corpus (one JSON string a line) with Hugging
// Face's own implementations, for each tokenizer directory given, and writes
// <out_dir>/<name>.ref.jsonl with one JSON object a line:
//   {"ids": [...],            // add_special_tokens = false
//    "ids_special": [...],    // add_special_tokens = true (see below)
//    "decoded": "...",        // decode(ids_special, skip_special_tokens=false)
//    "decoded_skip": "...",   // decode(ids_special, skip_special_tokens=true)
//    "decoded_cleanup": "..."}// transformers' clean_up_tokenization_spaces on "decoded"
// Two references are run and must agree with each other:
//   - npm "tokenizers": HF's Rust tokenizers crate (native Node binding), and
//   - npm "@huggingface/tokenizers": HF's pure-JS tokenizers.js.
// Any string on which they disagree is listed in <out_dir>/<name>.refdiff.jsonl
// (the driver reports those; they are not used as expected ids).
//
// add_special_tokens: transformers' Llama/Gemma fast tokenizers rebuild the
// post-processor from tokenizer_config.json's add_bos_token / add_eos_token
// (update_post_processor). Neither library reads those keys, so where the
// config has them, ids_special = [bos if add_bos] + ids + [eos if add_eos].
//
// Usage: node hf_encode.mjs <corpus.jsonl> <out_dir> <name>=<dir> ...
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const nodeModules = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../node/node_modules");
const js = await import(path.join(nodeModules, "@huggingface/tokenizers/dist/tokenizers.mjs"));
const rust = require(path.join(nodeModules, "tokenizers"));

function tokenContent(tok) {
  if (tok === null || tok === undefined) return null;
  if (typeof tok === "string") return tok;
  return tok.content ?? null;
}

function cleanUp(text) {
  return text.replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!")
    .replaceAll(" ,", ",").replaceAll(" ' ", "'").replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m").replaceAll(" 's", "'s").replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

function sameIds(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function run(name, dir, corpus, outDir) {
  const tjson = fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8");
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const jsTok = new js.Tokenizer(JSON.parse(tjson), cfg);
  const rsTok = rust.Tokenizer.fromString(tjson);
  const overrides = "add_bos_token" in cfg || "add_eos_token" in cfg;
  const wrap = (ids) => {
    const out = [];
    if (cfg.add_bos_token) out.push(rsTok.tokenToId(tokenContent(cfg.bos_token)));
    out.push(...ids);
    if (cfg.add_eos_token) out.push(rsTok.tokenToId(tokenContent(cfg.eos_token)));
    return out;
  };
  const lines = [];
  const diffs = [];
  for (let i = 0; i < corpus.length; ++i) {
    const text = corpus[i];
    const rsIds = (await rsTok.encode(text, null, { addSpecialTokens: false })).getIds();
    const rsSpecial = overrides ? wrap(rsIds)
      : (await rsTok.encode(text, null, { addSpecialTokens: true })).getIds();
    const jsIds = jsTok.encode(text, { add_special_tokens: false }).ids;
    const jsSpecial = overrides ? wrap(jsIds) : jsTok.encode(text, { add_special_tokens: true }).ids;
    let decoded = "", decodedSkip = "";
    if (rsSpecial.length > 0) {
      decoded = await rsTok.decode(rsSpecial, false);
      decodedSkip = await rsTok.decode(rsSpecial, true);
      const jsDecoded = jsTok.decode(rsSpecial, { clean_up_tokenization_spaces: false });
      if (jsDecoded !== decoded) diffs.push({ index: i, what: "decode", rust: decoded, js: jsDecoded });
    }
    if (!sameIds(rsIds, jsIds) || !sameIds(rsSpecial, jsSpecial)) {
      diffs.push({ index: i, what: "ids", rust: rsSpecial, js: jsSpecial });
    }
    lines.push(JSON.stringify({
      ids: rsIds, ids_special: rsSpecial, decoded, decoded_skip: decodedSkip,
      decoded_cleanup: cleanUp(decoded),
    }));
  }
  fs.writeFileSync(path.join(outDir, `${name}.ref.jsonl`), lines.join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, `${name}.refdiff.jsonl`),
    diffs.map((d) => JSON.stringify(d)).join("\n") + (diffs.length ? "\n" : ""));
  console.log(`${name}: ${corpus.length} strings, ${diffs.length} js/rust reference disagreements`);
}

const [corpusPath, outDir, ...specs] = process.argv.slice(2);
if (!corpusPath || !outDir || specs.length === 0) {
  console.error("usage: node hf_encode.mjs <corpus.jsonl> <out_dir> <name>=<dir> ...");
  process.exit(2);
}
const corpus = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
fs.mkdirSync(outDir, { recursive: true });
for (const spec of specs) {
  const eq = spec.indexOf("=");
  await run(spec.slice(0, eq), spec.slice(eq + 1), corpus, outDir);
}
