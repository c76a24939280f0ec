// The official OpenAI Node SDK against the gateway: chat, completions, streaming, models list, errors.
// Run by tests/e2e/gateway_test.sh with GATEWAY_URL, API_KEY (holds ai.languageModels.user), MODEL (a
// model_uri), BARE_ID (another ACTIVE instance's id), STOPPED_MODEL and NOROLE_KEY.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const baseURL = env('GATEWAY_URL');
const client = new OpenAI({ apiKey: env('API_KEY'), baseURL, maxRetries: 0 });
const MODEL = env('MODEL');

async function check(name, fn) {
  const started = Date.now();
  await fn();
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

async function expectError(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `expected an APIError, got ${e}`);
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

await check('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Hello' }],
    max_tokens: 6,
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 6);
});

await check('chat completion by bare instance id', async () => {
  const r = await client.chat.completions.create({
    model: env('BARE_ID'),
    messages: [{ role: 'user', content: 'Hello' }],
    max_tokens: 2,
  });
  assert.ok(r.choices[0].message.content.length > 0);
});

await check('completion', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon', max_tokens: 4 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.length > 0);
  assert.equal(r.usage.completion_tokens, 4);
});

await check('streaming chat with usage', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Stream please' }],
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 8, `only ${chunks} chunks`);
  assert.ok(text.length > 0);
  assert.equal(usage?.completion_tokens, 8);
});

await check('streaming completion', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'Count', max_tokens: 5, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.ok(text.length > 0);
});

await check('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL), `${MODEL} not in ${ids}`);
  const one = await client.models.retrieve(MODEL);
  assert.equal(one.id, MODEL);
});

await check('errors: unknown model 404, wrong key 401, no role 403, stopped 409, bad request 400', async () => {
  await expectError(
    client.chat.completions.create({ model: 'dedicated://nofolder/noinstance', messages: [{ role: 'user', content: 'x' }] }),
    403, 'permission_denied');
  await expectError(
    client.chat.completions.create({ model: 'nosuchinstance', messages: [{ role: 'user', content: 'x' }] }),
    404, 'model_not_found');
  const wrong = new OpenAI({ apiKey: 'dik_wrong', baseURL, maxRetries: 0 });
  const e = await expectError(wrong.models.list(), 401, 'invalid_api_key');
  assert.ok(e instanceof OpenAI.AuthenticationError);
  const norole = new OpenAI({ apiKey: env('NOROLE_KEY'), baseURL, maxRetries: 0 });
  const d = await expectError(
    norole.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }), 403);
  assert.ok(d instanceof OpenAI.PermissionDeniedError);
  const c = await expectError(
    client.chat.completions.create({ model: env('STOPPED_MODEL'), messages: [{ role: 'user', content: 'x' }] }),
    409, 'instance_not_active');
  assert.match(c.message, /STOPPED/);
  // The engine validates the rest of the body; its 400 comes through unchanged.
  await expectError(client.chat.completions.create({ model: MODEL, messages: [] }), 400);
});

console.log('all openai SDK checks passed');
