import { describe, expect, it } from 'vitest';
import { toInputCommand } from './input.js';

describe('toInputCommand', () => {
  it.each([
    [
      { type: 'mouse', event: 'mousePressed', x: 10.5, y: 20, button: 'left', clickCount: 1 },
      {
        method: 'Input.dispatchMouseEvent',
        params: { type: 'mousePressed', x: 10.5, y: 20, modifiers: 0, button: 'left', clickCount: 1 },
      },
    ],
    [
      { type: 'mouse', event: 'mouseMoved', x: 1, y: 2, modifiers: 8 },
      { method: 'Input.dispatchMouseEvent', params: { type: 'mouseMoved', x: 1, y: 2, modifiers: 8 } },
    ],
    [
      { type: 'mouse', event: 'mouseWheel', x: 1, y: 2, deltaY: 120 },
      {
        method: 'Input.dispatchMouseEvent',
        params: { type: 'mouseWheel', x: 1, y: 2, modifiers: 0, deltaX: 0, deltaY: 120 },
      },
    ],
    [
      { type: 'key', event: 'keyDown', key: 'a', code: 'KeyA', text: 'a', keyCode: 65 },
      {
        method: 'Input.dispatchKeyEvent',
        params: {
          type: 'keyDown',
          modifiers: 0,
          key: 'a',
          code: 'KeyA',
          text: 'a',
          windowsVirtualKeyCode: 65,
        },
      },
    ],
  ])('%j', (msg, want) => {
    expect(toInputCommand(msg)).toEqual(want);
  });

  it.each([
    null,
    'click',
    { type: 'cdp', method: 'Runtime.evaluate', params: { expression: '1' } },
    { type: 'mouse', event: 'mousePressed', x: -1, y: 0 },
    { type: 'mouse', event: 'mousePressed', x: 1, y: 1, button: 'thumb' },
    { type: 'mouse', event: 'mouseDragged', x: 1, y: 1 },
    { type: 'mouse', event: 'mouseMoved', x: Number.NaN, y: 1 },
    { type: 'key', event: 'keyDown', text: 'x'.repeat(100) },
    { type: 'key', event: 'keyDown', modifiers: 99 },
  ])('refuses %j', (msg) => {
    expect(toInputCommand(msg)).toBeUndefined();
  });
});
