import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SiteServer {
  /** http://<host>:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves test pages where browser pods can reach them (the host side of the pod network). `/click` counts
 * clicks on a big button, so a click that arrives through any path shows in the page's title; `/offer` and
 * `/files/<name>` offer downloads; `/form` is a form to fill in.
 */
/** The bytes `/files/<name>` serves: distinct per name, so a test can tell any two files apart. */
export function downloadBytes(name: string): Buffer {
  const line = Buffer.from(`browserfleet download ${name}\n`);
  return Buffer.concat(Array.from({ length: 64 }, () => line));
}

/** How much of `/slow/<name>` is sent before the response stalls, and the length it announces. */
export const SLOW_DOWNLOAD = { sent: 4096, announced: 1 << 20 };

/**
 * `/offer` is a page with three ways to download: `#attachment` links to a response with
 * `Content-Disposition: attachment` (served as `report.pdf`), `#download` is an `<a download="notes.txt">`, and
 * `#slow` an attachment (`big.bin`) that sends its first bytes and then nothing more: a download that is still
 * running when the session ends.
 */
function serveDownloads(path: string, res: http.ServerResponse): boolean {
  if (path === '/offer') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>offer</title></head><body>
<a id="attachment" href="/files/report.pdf">report</a>
<a id="download" href="/files/notes.txt" download="notes.txt">notes</a>
<a id="slow" href="/slow/big.bin">big</a>
</body></html>`);
    return true;
  }
  if (path === '/slow/big.bin') {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': SLOW_DOWNLOAD.announced,
      'content-disposition': 'attachment; filename="big.bin"',
    });
    res.write(Buffer.alloc(SLOW_DOWNLOAD.sent, 7));
    return true;
  }
  const match = /^\/files\/([A-Za-z0-9._-]+)$/.exec(path);
  if (!match?.[1]) return false;
  const body = downloadBytes(match[1]);
  const attachment = match[1] === 'report.pdf';
  res.writeHead(200, {
    'content-type': attachment ? 'application/pdf' : 'text/plain',
    'content-length': body.length,
    ...(attachment ? { 'content-disposition': 'attachment; filename="report.pdf"' } : {}),
  });
  res.end(body);
  return true;
}

/**
 * `/upload` is a page with a file input; choosing a file posts its bytes to `/digest`, which answers their
 * SHA-256, and the page shows it as its title: proof of what the browser read from its file system. (The page
 * cannot hash it itself: crypto.subtle needs a secure context, and the pod reaches this server over plain http.)
 */
function serveUploads(req: http.IncomingMessage, path: string, res: http.ServerResponse): boolean {
  if (path === '/upload') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>upload</title></head><body>
<input id="file" type="file">
<script>
document.getElementById('file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  const r = await fetch('/digest', { method: 'POST', body: file });
  document.title = 'sha256 ' + file.name + ' ' + (await r.text());
});
</script></body></html>`);
    return true;
  }
  if (path !== '/digest' || req.method !== 'POST') return false;
  const hash = createHash('sha256');
  req.on('data', (c: Buffer) => hash.update(c));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(hash.digest('hex'));
  });
  return true;
}

/** What `/form` logs to the console when it loads (BiDi tests subscribe to it). */
export const FORM_CONSOLE_LINE = 'browserfleet form ready';

/**
 * `/form` is a page with a text field (`#name`) and a button (`#greet`) that writes `Hello, <name>!` into
 * `#greeting` and the title: what a WebDriver test types, clicks and reads. It logs FORM_CONSOLE_LINE.
 */
function serveForm(path: string, res: http.ServerResponse): boolean {
  if (path !== '/form') return false;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>form</title></head><body>
<input id="name" type="text"><button id="greet">greet</button><p id="greeting"></p>
<script>
document.getElementById('greet').addEventListener('click', () => {
  const text = 'Hello, ' + document.getElementById('name').value + '!';
  document.getElementById('greeting').textContent = text;
  document.title = text;
});
console.log(${JSON.stringify(FORM_CONSOLE_LINE)});
</script></body></html>`);
  return true;
}

export async function startSite(host: string): Promise<SiteServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (serveDownloads(path, res) || serveUploads(req, path, res) || serveForm(path, res)) return;
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
