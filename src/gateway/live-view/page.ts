/**
 * The live-view page. It opens `<this path>/ws` with its own query (the live-view token and page), draws each
 * screencast frame, and sends clicks, wheel and keys back in the page's CSS pixels. Self-contained: no
 * external scripts or fonts, so it works wherever the gateway is reachable.
 */
export function livePageHtml(sessionId: string, fullscreen: boolean): string {
  const id = escapeHtml(sessionId);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live view · ${id}</title>
<style>
  html, body { margin: 0; height: 100%; background: #1e1e1e; color: #ddd; font: 13px system-ui, sans-serif; }
  body { display: flex; flex-direction: column; }
  #bar { display: ${fullscreen ? 'none' : 'flex'}; gap: 12px; align-items: center; padding: 6px 10px; background: #2b2b2b; white-space: nowrap; overflow: hidden; }
  #url { overflow: hidden; text-overflow: ellipsis; color: #9cdcfe; }
  #state { margin-left: auto; color: #aaa; }
  #stage { flex: 1; display: flex; align-items: center; justify-content: center; min-height: 0; }
  #screen { display: block; max-width: 100%; max-height: 100%; cursor: default; outline: none; user-select: none; }
</style>
</head>
<body data-frames="0" data-state="connecting">
<div id="bar"><strong>${id}</strong><span id="url"></span><span id="state">connecting…</span></div>
<div id="stage"><img id="screen" alt="live view of session ${id}" tabindex="0" draggable="false"></div>
<script>
(() => {
  const img = document.getElementById('screen');
  const state = document.getElementById('state');
  const urlLabel = document.getElementById('url');
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(scheme + '//' + location.host + location.pathname.replace(/\\/$/, '') + '/ws' + location.search);
  let size = { deviceWidth: 0, deviceHeight: 0 };
  let frames = 0;
  const setState = (s, text) => { document.body.dataset.state = s; state.textContent = text; };
  const send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  ws.onopen = () => setState('open', 'live');
  ws.onclose = (e) => setState('closed', 'closed' + (e.reason ? ': ' + e.reason : ''));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'frame') {
      size = m.metadata;
      img.src = 'data:image/jpeg;base64,' + m.data;
      document.body.dataset.frames = String(++frames);
    } else if (m.type === 'page') {
      urlLabel.textContent = m.url;
    } else if (m.type === 'error') {
      setState(document.body.dataset.state, m.message);
    }
  };
  // Frames are in device pixels and drawn scaled; input goes back in the page's CSS pixels.
  const point = (e) => {
    const r = img.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * size.deviceWidth, y: ((e.clientY - r.top) / r.height) * size.deviceHeight };
  };
  const modifiers = (e) => (e.altKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.metaKey ? 4 : 0) | (e.shiftKey ? 8 : 0);
  const buttons = ['left', 'middle', 'right', 'back', 'forward'];
  img.addEventListener('mousedown', (e) => { e.preventDefault(); img.focus(); send({ type: 'mouse', event: 'mousePressed', ...point(e), button: buttons[e.button] || 'left', clickCount: Math.min(3, e.detail || 1), modifiers: modifiers(e) }); });
  img.addEventListener('mouseup', (e) => { e.preventDefault(); send({ type: 'mouse', event: 'mouseReleased', ...point(e), button: buttons[e.button] || 'left', clickCount: Math.min(3, e.detail || 1), modifiers: modifiers(e) }); });
  let moveQueued = null;
  img.addEventListener('mousemove', (e) => {
    const at = { ...point(e), modifiers: modifiers(e) };
    if (moveQueued) { moveQueued = at; return; }
    moveQueued = at;
    requestAnimationFrame(() => { send({ type: 'mouse', event: 'mouseMoved', ...moveQueued }); moveQueued = null; });
  });
  img.addEventListener('wheel', (e) => { e.preventDefault(); send({ type: 'mouse', event: 'mouseWheel', ...point(e), deltaX: e.deltaX, deltaY: e.deltaY, modifiers: modifiers(e) }); }, { passive: false });
  img.addEventListener('contextmenu', (e) => e.preventDefault());
  const key = (type) => (e) => {
    e.preventDefault();
    const printable = e.key.length === 1 && !e.ctrlKey && !e.metaKey;
    send({ type: 'key', event: type === 'keyDown' && !printable ? 'rawKeyDown' : type, key: e.key, code: e.code, keyCode: e.keyCode, modifiers: modifiers(e), ...(type === 'keyDown' && printable ? { text: e.key } : {}) });
  };
  img.addEventListener('keydown', key('keyDown'));
  img.addEventListener('keyup', key('keyUp'));
})();
</script>
</body>
</html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
