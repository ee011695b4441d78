// End-to-end tests of the router + workers through the official OpenAI Node
// SDK. Run by tests/scripts/e2e_cluster.sh, which starts the cluster and
// passes:
//   ROUTER_URL        http://127.0.0.1:PORT
//   EXPECTED_JSON     {"prompt": ..., "greedy_text": ...} computed with
//                     `infernum generate --temperature 0` (an independent path)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const OpenAI = require('../node/node_modules/openai').default;

const client = new OpenAI({ baseURL: `${process.env.ROUTER_URL}/v1`, apiKey: 'unused', maxRetries: 0 });
const expected = JSON.parse(process.env.EXPECTED_JSON);
const MAX = expected.max_tokens;

async function modelIds() {
  const models = await client.models.list();
  assert.ok(models.data.length >= 1, 'at least one model');
  for (const m of models.data) assert.equal(m.object, 'model');
  return models.data.map((m) => m.id);
}

async function collectChat(stream) {
  let text = '', finish = null, usage = null, roleSeen = false;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.role) roleSeen = true;
      if (c.delta?.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, roleSeen };
}

test('models list names the served model', async () => {
  const ids = await modelIds();
  assert.ok(ids.includes(expected.model_id), `${ids} includes ${expected.model_id}`);
});

test('completions: greedy equals infernum generate', async () => {
  const r = await client.completions.create({
    model: expected.model_id, prompt: expected.prompt, max_tokens: MAX, temperature: 0,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text, expected.greedy_text);
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.id && r.created && r.system_fingerprint !== undefined);
});

test('chat: greedy equals infernum generate (plain template)', async () => {
  const r = await client.chat.completions.create({
    model: expected.model_id, messages: [{ role: 'user', content: expected.prompt }],
    max_tokens: MAX, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, expected.greedy_text);
});

test('chat streaming: deltas concatenate to the non-streaming text, usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model: expected.model_id, messages: [{ role: 'user', content: expected.prompt }],
    max_tokens: MAX, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  const got = await collectChat(stream);
  assert.equal(got.text, expected.greedy_text);
  assert.ok(got.roleSeen, 'first delta carries the role');
  assert.ok(got.finish);
  assert.ok(got.usage && got.usage.completion_tokens > 0, 'include_usage chunk');
});

test('completions streaming equals non-streaming', async () => {
  const stream = await client.completions.create({
    model: expected.model_id, prompt: expected.prompt, max_tokens: MAX, temperature: 0, stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, expected.greedy_text);
});

test('n=2 with a seed: two distinct choices, reproducible', async () => {
  const req = {
    model: expected.model_id, messages: [{ role: 'user', content: 'Once upon a time' }],
    max_tokens: 24, temperature: 1.0, seed: 1234, n: 2,
  };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.index).sort(), [0, 1]);
  assert.notEqual(a.choices[0].message.content, a.choices[1].message.content);
  for (let i = 0; i < 2; i++) {
    const ca = a.choices.find((c) => c.index === i), cb = b.choices.find((c) => c.index === i);
    assert.equal(ca.message.content, cb.message.content, `choice ${i} reproducible`);
  }
});

test('seed reproducibility on completions, different seeds differ', async () => {
  const mk = (seed) => client.completions.create({
    model: expected.model_id, prompt: 'The cat', max_tokens: 24, temperature: 1.0, seed,
  });
  const [a, b, c] = await Promise.all([mk(7), mk(7), mk(8)]);
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.notEqual(a.choices[0].text, c.choices[0].text);
});

test('chat logprobs with top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: expected.model_id, messages: [{ role: 'user', content: expected.prompt }],
    max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.ok(content.length >= 1);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    // Greedy: the chosen token is the most likely one.
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5);
  }
  assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
});

test('completions logprobs', async () => {
  const r = await client.completions.create({
    model: expected.model_id, prompt: expected.prompt, max_tokens: 6, temperature: 0, logprobs: 2,
  });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, lp.token_logprobs.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
});

test('stop string: output truncated before it, never emitted', async () => {
  const full = expected.greedy_text;
  const stop = expected.stop_string;
  const cut = full.indexOf(stop);
  assert.ok(cut > 0, 'the stop string occurs in the greedy text');
  for (const stream of [false, true]) {
    const args = {
      model: expected.model_id, messages: [{ role: 'user', content: expected.prompt }],
      max_tokens: MAX, temperature: 0, stop: [stop, 'zzzz-never'], stream,
    };
    let text, finish;
    if (stream) {
      ({ text, finish } = await collectChat(await client.chat.completions.create(args)));
    } else {
      const r = await client.chat.completions.create(args);
      text = r.choices[0].message.content;
      finish = r.choices[0].finish_reason;
    }
    assert.equal(text, full.slice(0, cut), `stream=${stream}`);
    assert.equal(finish, 'stop');
  }
});

test('errors come back as OpenAI errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 404 && e.error?.type !== undefined);
  await assert.rejects(
    client.chat.completions.create({ model: expected.model_id, messages: [] }),
    (e) => e.status === 400);
  await assert.rejects(
    client.completions.create({ model: expected.model_id, prompt: 'x', max_tokens: 100000 }),
    (e) => e.status === 400 && /\d+/.test(e.message));
});

test('64 concurrent streaming requests all complete correctly', async () => {
  const prompts = expected.concurrent;  // [{prompt, text}] computed with infernum generate
  const runs = [];
  for (let i = 0; i < 64; i++) {
    const p = prompts[i % prompts.length];
    runs.push((async () => {
      const stream = await client.completions.create({
        model: expected.model_id, prompt: p.prompt, max_tokens: MAX, temperature: 0, stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
      return [text, p.text];
    })());
  }
  const results = await Promise.all(runs);
  for (const [got, want] of results) assert.equal(got, want);
});
