// Reference encoder for the tokenizer parity test.
//
// Encodes every string of a corpus (one JSON string a line) with Hugging
// Face's own implementations, for each tokenizer directory given, and writes
// <out_dir>/<name>.ref.jsonl with one JSON object a line:
//   {"ids": [...],            // add_special_tokens = false
//    "ids_special": [...],    // add_special_tokens = true (see below)
//    "decoded": "...",        // decode(ids_special, skip_special_tokens=false)
//    "decoded_skip": "...",   // decode(ids_special, skip_special_tokens=true)
//    "decoded_plain": "...",  // decode(ids, skip_special_tokens=false)
//    "decoded_cleanup": "..."}// "decoded" with clean_up_tokenization_spaces
//                             // (transformers' rule, applied by tokenizers.js)
// and <out_dir>/<name>.randids.jsonl: seeded random id lists (random ids,
// byte tokens, special tokens, slices of corpus encodings that cut UTF-8
// characters) with HF's decode of each: {"ids", "decoded", "decoded_skip"}.
// Two Hugging Face implementations run:
//   - npm "tokenizers": HF's Rust tokenizers crate (native Node binding), the
//     one transformers and vLLM use; its output is the expected output;
//   - npm "@huggingface/tokenizers": HF's pure-JS tokenizers.js, as a
//     cross-check. Where it disagrees with Rust (known: its ByteFallback
//     decoder drops a U+FEFF inside text), the case is listed in
//     <out_dir>/<name>.refdiff.jsonl and reported by the driver.
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

// Deterministic PRNG (mulberry32) so the random id lists are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function randomIdLists(rsTok, encodings, count) {
  const rand = rng(12345);
  const pick = (n) => Math.floor(rand() * n);
  const vocabSize = rsTok.getVocabSize(true);
  const byteIds = [];
  for (let b = 0; b < 256; ++b) {
    const id = rsTok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    if (id !== null && id !== undefined) byteIds.push(id);
  }
  const specialIds = [];
  for (const name of ["<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<start_of_turn>",
    "<bos>", "<|begin_of_text|>", "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<think>"]) {
    const id = rsTok.tokenToId(name);
    if (id !== null && id !== undefined) specialIds.push(id);
  }
  const lists = [];
  for (let k = 0; k < count; ++k) {
    let ids = [];
    const kind = k % 3;
    if (kind === 0) {
      const n = 1 + pick(12);
      for (let i = 0; i < n; ++i) {
        const r = rand();
        if (r < 0.3 && byteIds.length) ids.push(byteIds[pick(byteIds.length)]);
        else if (r < 0.4 && specialIds.length) ids.push(specialIds[pick(specialIds.length)]);
        else ids.push(pick(vocabSize));
      }
    } else {
      const enc = encodings[pick(encodings.length)];
      if (enc.length === 0) continue;
      const a = pick(enc.length);
      const b = Math.min(enc.length, a + 1 + pick(30));
      ids = enc.slice(a, b);
    }
    lists.push({ ids, decoded: await rsTok.decode(ids, false), decoded_skip: await rsTok.decode(ids, true) });
  }
  return lists;
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
  const encodings = [];
  const diffs = [];
  for (let i = 0; i < corpus.length; ++i) {
    const text = corpus[i];
    const rsIds = (await rsTok.encode(text, null, { addSpecialTokens: false })).getIds();
    const rsSpecial = overrides ? wrap(rsIds)
      : (await rsTok.encode(text, null, { addSpecialTokens: true })).getIds();
    const jsIds = jsTok.encode(text, { add_special_tokens: false }).ids;
    const jsSpecial = overrides ? wrap(jsIds) : jsTok.encode(text, { add_special_tokens: true }).ids;
    let decoded = "", decodedSkip = "", decodedPlain = "", decodedCleanup = "";
    if (rsSpecial.length > 0) {
      decoded = await rsTok.decode(rsSpecial, false);
      decodedSkip = await rsTok.decode(rsSpecial, true);
      const jsDecoded = jsTok.decode(rsSpecial, { clean_up_tokenization_spaces: false });
      decodedCleanup = jsTok.decode(rsSpecial, { clean_up_tokenization_spaces: true });
      if (jsDecoded !== decoded) diffs.push({ index: i, what: "decode", rust: decoded, js: jsDecoded });
    }
    if (rsIds.length > 0) decodedPlain = await rsTok.decode(rsIds, false);
    encodings.push(rsSpecial);
    if (!sameIds(rsIds, jsIds) || !sameIds(rsSpecial, jsSpecial)) {
      diffs.push({ index: i, what: "ids", rust: rsSpecial, js: jsSpecial });
    }
    lines.push(JSON.stringify({
      ids: rsIds, ids_special: rsSpecial, decoded, decoded_skip: decodedSkip,
      decoded_plain: decodedPlain, decoded_cleanup: decodedCleanup,
    }));
  }
  fs.writeFileSync(path.join(outDir, `${name}.ref.jsonl`), lines.join("\n") + "\n");
  const rand = await randomIdLists(rsTok, encodings, 300);
  fs.writeFileSync(path.join(outDir, `${name}.randids.jsonl`),
    rand.map((r) => JSON.stringify(r)).join("\n") + "\n");
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
