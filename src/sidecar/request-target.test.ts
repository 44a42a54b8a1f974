import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { testSidecarConfig } from '../testing/sidecar-config.js';
import { createSidecar, type Sidecar } from './sidecar.js';

const token = 'dGVzdC1zZXNzaW9uLXRva2VuLXZhbHVl';

/** Sends raw request bytes (fetch and ws would normalise the target) and returns the status line. */
function statusLine(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
  });
}

// A request target no URL can be made of reaches nothing behind the sidecar: no Chrome is needed (none runs).
describe('sidecar request targets', () => {
  let sidecar: Sidecar | undefined;
  afterAll(async () => {
    await sidecar?.close();
  });

  it("refuses '//?x' with 400, over HTTP and at the upgrade, and keeps serving", async () => {
    sidecar = createSidecar(
      testSidecarConfig({
        chromeUrl: new URL('http://127.0.0.1:9'),
        session: { namespace: 'team-a', name: 'target-test', uid: '5b0e8f8a-2222-4000-8000-000000000002' },
        sessionToken: token,
      }),
    );
    const { port } = await sidecar.listen();
    expect(
      await statusLine(port, `GET //?token=${token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ).toBe('HTTP/1.1 400 Bad Request');
    expect(
      await statusLine(
        port,
        `GET //?token=${token} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
    ).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLine(port, 'GET /json/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe(
      'HTTP/1.1 401 Unauthorized',
    );
  });
});
