import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

/**
 * Uploads (issue 15): a file through the official SDKs into the browser's file system on the suite's real node,
 * then into a page's `<input type=file>` the way Browserbase documents it (CDP `DOM.setFileInputFiles` with the
 * in-browser path), and the refusals around it.
 */

const run = promisify(execFile);
const MB = 1024 * 1024;
const LIMIT = 256 * MB;
let g: GatewayStack;
let bb: Browserbase;
let dir: string;

/**
 * A file of random bytes and its SHA-256, made and hashed by other processes: this one runs the gateway, whose
 * memory the test measures, so it must not hold the file itself.
 */
async function fileOf(name: string, bytes: number): Promise<{ path: string; sha256: string }> {
  const p = path.join(dir, name);
  await run('sh', ['-c', `head -c ${bytes} /dev/urandom > "$1"`, 'sh', p]);
  const { stdout } = await run('sha256sum', [p]);
  return { path: p, sha256: stdout.split(' ')[0] ?? '' };
}

/** The sidecar's resident memory, from its own metrics (prom-client's process metrics). */
async function sidecarRss(podIP: string): Promise<number> {
  const text = await (await fetch(`http://${podIP}:9224/metrics`)).text();
  const m = /^browserfleet_sidecar_process_resident_memory_bytes (\d+)/m.exec(text);
  if (!m?.[1]) throw new Error('no resident memory in the sidecar metrics');
  return Number(m[1]);
}

async function runningSession(keepAlive = true) {
  const session = await bb.sessions.create({ keepAlive });
  const s = await g.waitPhase(session.id, ['Running']);
  return { session, podIP: s.status?.podIP ?? '' };
}

describe.skipIf(inject('podNetworkHostIP') === '')('uploads: files where the browser reads them', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bf-uploads-test-'));
    g = await startGatewayStack({ prefix: 'uploads', pods: 'node', gateway: { uploadMaxBytes: LIMIT } });
    bb = new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl, maxRetries: 0 });
  }, 180_000);

  afterAll(async () => {
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('20 MB through bb.sessions.uploads.create reach an <input type=file> at /tmp/.uploads: the page reads the same SHA-256', async () => {
    const file = await fileOf('big-upload.bin', 20 * MB);
    const { session, podIP } = await runningSession();

    // First 200 MB by a plain client (curl, another process), so that this process (the gateway's) and the sidecar
    // do nothing else meanwhile: a component that held the file whole would grow by its size; streaming costs
    // buffers and garbage not yet collected, which do not grow with the file.
    const large = await fileOf('large.bin', 200 * MB);
    const before = { gateway: process.memoryUsage().rss, sidecar: await sidecarRss(podIP) };
    const curl = await run('curl', [
      '-sS',
      '-H',
      `x-bb-api-key: ${g.apiKey}`,
      '-F',
      `file=@${large.path};filename=first.bin`,
      `${g.baseUrl}/v1/sessions/${session.id}/uploads`,
    ]);
    expect(curl.stdout).toContain('/tmp/.uploads/first.bin');
    const grown = {
      gateway: process.memoryUsage().rss - before.gateway,
      sidecar: (await sidecarRss(podIP)) - before.sidecar,
    };
    console.log(
      `upload of 200 MB: gateway RSS +${(grown.gateway / MB).toFixed(1)} MB, sidecar RSS +${(grown.sidecar / MB).toFixed(1)} MB`,
    );
    expect(grown.gateway).toBeLessThan(100 * MB);
    expect(grown.sidecar).toBeLessThan(100 * MB);

    // Then through the official SDK, and into the page the way Browserbase's docs do it: the in-browser path,
    // through CDP (Playwright's setInputFiles would read the path on this machine instead).
    const answer = await bb.sessions.uploads.create(session.id, { file: createReadStream(file.path) });
    expect(answer.message).toContain('/tmp/.uploads/big-upload.bin');
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${g.site.url}/upload`);
    const cdp = await page.context().newCDPSession(page);
    const { root } = await cdp.send('DOM.getDocument');
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#file' });
    await cdp.send('DOM.setFileInputFiles', { nodeId, files: ['/tmp/.uploads/big-upload.bin'] });
    const title = await waitFor('the page to read the file', async () => {
      const t = await page.title();
      return t.startsWith('sha256 ') ? t : undefined;
    });
    expect(title).toBe(`sha256 big-upload.bin ${file.sha256}`);
    await browser.close();
    await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' });
  });

  it('Hyperbrowser uploadFile puts it at /tmp/uploads; the refusals say why', async () => {
    const hb = new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });
    const small = await fileOf('notes.txt', 1000);
    const { session } = await runningSession();
    const answer = await hb.sessions.uploadFile(session.id, { fileInput: small.path });
    expect(answer).toMatchObject({ filePath: '/tmp/uploads/notes.txt', fileName: 'notes.txt' });

    const post = (name: string, bytes: Buffer, id = session.id, key = g.apiKey) => {
      const form = new FormData();
      form.append('file', new Blob([bytes]), name);
      return fetch(`${g.baseUrl}/v1/sessions/${id}/uploads`, {
        method: 'POST',
        headers: { 'x-bb-api-key': key },
        body: form,
      });
    };
    const traversal = await post('../../etc/passwd', Buffer.from('x'));
    expect(traversal.status).toBe(400);
    expect(((await traversal.json()) as { message: string }).message).toMatch(/^file: .*must not contain \//);
    // Over the limit: a sparse file, sent by curl (this process holds none of it).
    const huge = path.join(dir, 'huge.bin');
    await run('truncate', ['-s', String(LIMIT + MB), huge]);
    const over = await run('curl', [
      '-sS',
      '-w',
      '\n%{http_code}',
      '-H',
      `x-bb-api-key: ${g.apiKey}`,
      '-F',
      `file=@${huge}`,
      `${g.baseUrl}/v1/sessions/${session.id}/uploads`,
    ]);
    const [body, code] = over.stdout.trim().split('\n');
    expect(code).toBe('413');
    expect((JSON.parse(body ?? '{}') as { message: string }).message).toBe(
      `file: uploads may be at most ${LIMIT} bytes`,
    );
    expect((await post('x.txt', Buffer.from('x'), session.id, g.otherApiKey)).status).toBe(404);
    const notMultipart = await fetch(`${g.baseUrl}/v1/sessions/${session.id}/uploads`, {
      method: 'POST',
      headers: { 'x-bb-api-key': g.apiKey, 'content-type': 'application/octet-stream' },
      body: 'raw',
    });
    expect(notMultipart.status).toBe(415);

    await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' });
    await waitFor('ended', async () => (await g.getSession(session.id)).status?.phase === 'Completed');
    const ended = await post('late.txt', Buffer.from('x'));
    expect(ended.status).toBe(410);
  });
});
