import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { waitFor } from './wait.js';

export const CHROMEDRIVER = process.env['BF_CHROMEDRIVER_BINARY'] ?? '/usr/bin/chromedriver';

export interface Chromedriver {
  /** http://127.0.0.1:<port> */
  url: URL;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Debian's chromedriver on a loopback port, as the browser pod runs it (ADR 0014); ready when /status says so. */
export async function startChromedriver(): Promise<Chromedriver> {
  const port = await freePort();
  const child: ChildProcess = spawn(CHROMEDRIVER, [`--port=${port}`, '--log-level=WARNING'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new URL(`http://127.0.0.1:${port}`);
  await waitFor('chromedriver to answer /status', async () => {
    try {
      const r = await fetch(new URL('/status', url));
      return r.ok;
    } catch {
      return false;
    }
  });
  return {
    url,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
