import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SiteServer {
  /** http://<host>:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves test pages where browser pods can reach them (the host side of the pod network). `/click` counts
 * clicks on a big button, so a click that arrives through any path shows in the page's title.
 */
export async function startSite(host: string): Promise<SiteServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    if (path === '/click') {
      res.end(`<!doctype html><html><head><title>clicks: 0</title></head>
<body style="margin:0;background:#fff">
<button id="big" style="position:absolute;left:0;top:0;width:100vw;height:100vh;font-size:64px;background:#2a7;color:#fff;border:0"
  onclick="window.clicks=(window.clicks||0)+1;document.title='clicks: '+window.clicks;this.textContent='clicked '+window.clicks">click me</button>
</body></html>`);
      return;
    }
    res.end(
      `<!doctype html><html><head><title>site ${path}</title></head><body><h1>${path}</h1></body></html>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
