/**
 * The viewer page's input messages and the CDP commands they become. The viewer can only send input: it never
 * speaks CDP itself, so a live-view link grants looking and clicking, not the DevTools protocol.
 */
export interface CdpCommand {
  method: 'Input.dispatchMouseEvent' | 'Input.dispatchKeyEvent';
  params: Record<string, unknown>;
}

const MOUSE_EVENTS = ['mousePressed', 'mouseReleased', 'mouseMoved', 'mouseWheel'] as const;
const KEY_EVENTS = ['keyDown', 'keyUp', 'rawKeyDown', 'char'] as const;
const BUTTONS = ['none', 'left', 'middle', 'right', 'back', 'forward'] as const;

const isNumber = (v: unknown, min = -1e6, max = 1e6): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isInt = (v: unknown, min: number, max: number): v is number =>
  isNumber(v, min, max) && Number.isInteger(v);
const isShortString = (v: unknown, max = 32): v is string => typeof v === 'string' && v.length <= max;

/** A validated viewer message as a CDP command, or undefined when it is not one the viewer may send. */
export function toInputCommand(msg: unknown): CdpCommand | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  const modifiers = m['modifiers'] === undefined ? 0 : m['modifiers'];
  if (!isInt(modifiers, 0, 15)) return undefined;

  if (m['type'] === 'mouse') {
    const event = m['event'];
    if (!(MOUSE_EVENTS as readonly unknown[]).includes(event) || !isNumber(m['x'], 0) || !isNumber(m['y'], 0))
      return undefined;
    const params: Record<string, unknown> = { type: event, x: m['x'], y: m['y'], modifiers };
    if (event === 'mousePressed' || event === 'mouseReleased') {
      const button = m['button'] ?? 'left';
      const clickCount = m['clickCount'] ?? 1;
      if (!(BUTTONS as readonly unknown[]).includes(button) || !isInt(clickCount, 0, 3)) return undefined;
      params['button'] = button;
      params['clickCount'] = clickCount;
    }
    if (event === 'mouseWheel') {
      const dx = m['deltaX'] ?? 0;
      const dy = m['deltaY'] ?? 0;
      if (!isNumber(dx, -1e5, 1e5) || !isNumber(dy, -1e5, 1e5)) return undefined;
      params['deltaX'] = dx;
      params['deltaY'] = dy;
    }
    return { method: 'Input.dispatchMouseEvent', params };
  }

  if (m['type'] === 'key') {
    const event = m['event'];
    if (!(KEY_EVENTS as readonly unknown[]).includes(event)) return undefined;
    const params: Record<string, unknown> = { type: event, modifiers };
    for (const field of ['key', 'code', 'text'] as const) {
      const v = m[field];
      if (v === undefined) continue;
      if (!isShortString(v)) return undefined;
      params[field] = v;
    }
    const keyCode = m['keyCode'];
    if (keyCode !== undefined) {
      if (!isInt(keyCode, 0, 1023)) return undefined;
      params['windowsVirtualKeyCode'] = keyCode;
    }
    return { method: 'Input.dispatchKeyEvent', params };
  }
  return undefined;
}
