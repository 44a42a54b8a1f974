// `helm test`: one session through the gateway, end to end. Creates it with the project's API key, waits until
// its browser runs, asks the browser for its pages through the gateway (gateway → sidecar → Chrome), then ends
// it and waits until it has ended. Any failure exits 1 with the step that failed.
const base = process.env.GATEWAY_URL;
const headers = { 'content-type': 'application/json', 'x-bb-api-key': process.env.API_KEY ?? '' };
const deadline = Date.now() + Number(process.env.TIMEOUT_SECONDS ?? 180) * 1000;

async function call(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

async function until(what, check) {
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let id;
try {
  const created = await call('POST', '/v1/sessions', { userMetadata: { source: 'helm-test' } });
  id = created.id;
  console.log(`created session ${id} (${created.status})`);
  await until('RUNNING', async () => (await call('GET', `/v1/sessions/${id}`)).status === 'RUNNING');
  console.log('session RUNNING');
  const debug = await call('GET', `/v1/sessions/${id}/debug`);
  if (!Array.isArray(debug.pages)) throw new Error(`no page list from the browser: ${JSON.stringify(debug)}`);
  console.log(`the browser answered through the gateway: ${debug.pages.length} page(s)`);
  await call('POST', `/v1/sessions/${id}`, { status: 'REQUEST_RELEASE' });
  const ended = await until('COMPLETED', async () => {
    const s = await call('GET', `/v1/sessions/${id}`);
    return s.status === 'COMPLETED' && s;
  });
  console.log(`session ${id} ended: ${ended.status}`);
} catch (err) {
  console.error(`helm test failed: ${err instanceof Error ? err.message : String(err)}`);
  if (id) await call('POST', `/v1/sessions/${id}`, { status: 'REQUEST_RELEASE' }).catch(() => undefined);
  process.exit(1);
}
