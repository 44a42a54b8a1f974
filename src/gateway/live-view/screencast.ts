import WebSocket from 'ws';
import { toInputCommand } from './input.js';

/** What the viewer page receives. Frame metadata carries the page's size in CSS pixels, to map clicks back. */
export type ViewerMessage =
  | { type: 'frame'; data: string; metadata: { deviceWidth: number; deviceHeight: number } }
  | { type: 'page'; url: string; title?: string }
  | { type: 'error'; message: string };

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

const FRAME = { format: 'jpeg', quality: 75 } as const;

/**
 * Joins a viewer websocket to a page-level CDP websocket: the page's screencast goes to the viewer, the
 * viewer's input goes to the page. A frame is acknowledged only once the viewer has taken it, so a slow
 * viewer slows the screencast instead of piling frames up in memory. Closing either side closes the other.
 */
export function bridgeScreencast(
  viewer: WebSocket,
  cdp: WebSocket,
  page: { url: string; title: string },
): Promise<void> {
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (cdp.readyState !== WebSocket.OPEN) return reject(new Error('page connection closed'));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      cdp.send(JSON.stringify({ id, method, params }));
    });
  const toViewer = (m: ViewerMessage, sent?: () => void) => {
    if (viewer.readyState === WebSocket.OPEN) viewer.send(JSON.stringify(m), sent);
  };

  cdp.on('message', (raw) => {
    let msg: {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      result?: unknown;
      error?: { message?: string };
    };
    try {
      msg = JSON.parse(raw.toString()) as typeof msg;
    } catch {
      return;
    }
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message ?? 'CDP error'));
      else p?.resolve(msg.result);
      return;
    }
    const params = msg.params ?? {};
    if (msg.method === 'Page.screencastFrame') {
      const meta = (params['metadata'] ?? {}) as { deviceWidth?: number; deviceHeight?: number };
      const frame: ViewerMessage = {
        type: 'frame',
        data: String(params['data'] ?? ''),
        metadata: { deviceWidth: meta.deviceWidth ?? 0, deviceHeight: meta.deviceHeight ?? 0 },
      };
      toViewer(
        frame,
        () => void call('Page.screencastFrameAck', { sessionId: params['sessionId'] }).catch(() => undefined),
      );
    } else if (msg.method === 'Page.frameNavigated') {
      const frame = (params['frame'] ?? {}) as { parentId?: string; url?: string };
      if (!frame.parentId && frame.url) toViewer({ type: 'page', url: frame.url });
    } else if (msg.method === 'Inspector.detached' || msg.method === 'Inspector.targetCrashed') {
      viewer.close(1011, msg.method === 'Inspector.detached' ? 'the page was closed' : 'the page crashed');
    }
  });

  viewer.on('message', (raw) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString());
    } catch {
      parsed = undefined;
    }
    const command = toInputCommand(parsed);
    if (!command) return toViewer({ type: 'error', message: 'not an input message' });
    call(command.method, command.params).catch((err: Error) =>
      toViewer({ type: 'error', message: err.message }),
    );
  });

  viewer.on('error', () => {});
  cdp.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    let open = 2;
    const done = () => {
      if (--open === 0) resolve();
    };
    viewer.once('close', () => {
      if (cdp.readyState !== WebSocket.CLOSED) cdp.close();
      done();
    });
    cdp.once('close', () => {
      for (const p of pending.values()) p.reject(new Error('page connection closed'));
      pending.clear();
      if (viewer.readyState !== WebSocket.CLOSED) viewer.close(1001, 'the browser connection closed');
      done();
    });
  });

  void start();
  async function start(): Promise<void> {
    try {
      toViewer({ type: 'page', url: page.url, title: page.title });
      await call('Page.enable');
      await call('Page.bringToFront');
      // The screencast only sends a frame when something paints; a still page needs this first picture.
      const metrics = (await call('Page.getLayoutMetrics')) as {
        cssLayoutViewport?: { clientWidth: number; clientHeight: number };
      };
      const shot = (await call('Page.captureScreenshot', FRAME)) as { data: string };
      toViewer({
        type: 'frame',
        data: shot.data,
        metadata: {
          deviceWidth: metrics.cssLayoutViewport?.clientWidth ?? 0,
          deviceHeight: metrics.cssLayoutViewport?.clientHeight ?? 0,
        },
      });
      await call('Page.startScreencast', { ...FRAME, everyNthFrame: 1 });
    } catch (err) {
      toViewer({ type: 'error', message: `could not start the live view: ${(err as Error).message}` });
    }
  }
  return closed;
}
