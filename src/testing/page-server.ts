import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PageServer {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** Serves one HTML page on loopback: a titled page tall enough that a full-page screenshot is real work. */
export async function servePage(title = 'browserfleet test page', rows = 200): Promise<PageServer> {
  const body = Array.from(
    { length: rows },
    (_, i) => `<p style="background:hsl(${(i * 37) % 360},60%,80%)">Row ${i}: the quick brown fox</p>`,
  ).join('\n');
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
