// `helm test`: one session through the gateway, end to end. Creates it with the project's API key, waits until
// its browser runs, asks the browser for its pages through the gateway (gateway → sidecar → Chrome), then ends
// it and waits until it has ended. With artifacts on, the ended session's downloads are then read back from the
// object store (the operator's flush wrote there, the gateway lists it): a store that is unreachable or refuses
// the credentials fails the test with the store's own words. Any failure exits 1 with the step that failed.
const base = process.env.GATEWAY_URL;
const headers = { 'content-type': 'application/json', 'x-bb-api-key': process.env.API_KEY ?? '' };
const deadline = Date.now() + Number(process.env.TIMEOUT_SECONDS ?? 180) * 1000;

// A request that got no answer at all (a reset or refused connection: a reused keep-alive socket the server
// had just closed, a replica going away) is tried again, a few times, except the create, which is not
// idempotent; the error names its cause either way.
async function call(method, path, body) {
  const retriable = !(method === 'POST' && path === '/v1/sessions');
  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        // An answer that never comes is a failure that says so, not a hang until helm's own timeout.
        signal: AbortSignal.timeout(30_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      break;
    } catch (err) {
      const why = `${method} ${path}: ${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ''}`;
      if (!retriable || attempt >= 5) throw new Error(why);
      console.log(`${why}; trying again`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
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
  if (process.env.ARTIFACTS === 'on') {
    const zip = await until('the downloads from the object store', async () => {
      const res = await fetch(`${base}/v1/sessions/${id}/downloads`, { headers, signal: AbortSignal.timeout(30_000) });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status === 200) return body;
      // 503 with retry-after: the store did not answer this time; without it: the end's flush failed for good.
      if (res.status === 503 && res.headers.get('retry-after')) return undefined;
      throw new Error(`GET /v1/sessions/${id}/downloads: HTTP ${res.status} ${body.toString('utf8')}`);
    });
    console.log(`the object store answered: the session's downloads are a zip of ${zip.length} bytes`);
  }
} catch (err) {
  console.error(`helm test failed: ${err instanceof Error ? err.message : String(err)}`);
  if (id) await call('POST', `/v1/sessions/${id}`, { status: 'REQUEST_RELEASE' }).catch(() => undefined);
  process.exit(1);
}
