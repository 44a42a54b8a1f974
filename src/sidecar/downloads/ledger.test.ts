import { describe, expect, it } from 'vitest';
import { DownloadLedger, type LedgerAction } from './ledger.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const T1 = new Date('2026-12-01T10:00:01.000Z');
const finished = (a: LedgerAction) => (a && 'finish' in a ? a.finish : undefined);

describe('DownloadLedger', () => {
  it('lists a download in progress, then complete under its timestamped name, bumping the generation', () => {
    const ledger = new DownloadLedger();
    expect(ledger.begin('g1', 'report.pdf', T0)).toBeUndefined();
    expect(ledger.manifest()).toMatchObject({
      generation: 0,
      downloads: [{ name: 'report.pdf', state: 'in-progress', startedAt: T0.toISOString() }],
    });
    expect(ledger.progress('g1', 'inProgress', 10, T0)).toBeUndefined();
    const name = finished(ledger.progress('g1', 'completed', 20, T1));
    expect(name).toBe(`report-${T1.getTime()}.pdf`);
    // Between Chrome's "completed" and the rename, the file is not yet servable.
    expect(ledger.complete(name ?? '')).toBeUndefined();
    ledger.stored('g1', name ?? '', 20, 'ab'.repeat(32), T1);
    expect(ledger.complete(name ?? '')).toMatchObject({
      bytes: 20,
      sha256: 'ab'.repeat(32),
      state: 'complete',
    });
    expect(ledger.manifest().generation).toBe(1);
  });

  it('gives two downloads of one name completing in the same millisecond distinct names', () => {
    const ledger = new DownloadLedger();
    ledger.begin('a', 'x.txt', T0);
    ledger.begin('b', 'x.txt', T0);
    const first = finished(ledger.progress('a', 'completed', 1, T1));
    const second = finished(ledger.progress('b', 'completed', 1, T1));
    expect(first).not.toBe(second);
    expect(second).toBe(`x-${T1.getTime()}-2.txt`);
  });

  it('tells a cancel by Chrome or the page from a cut at the seal, and starts nothing after the seal', () => {
    const ledger = new DownloadLedger();
    ledger.begin('c', 'c.bin', T0);
    ledger.begin('p', 'p.bin', T0);
    ledger.progress('c', 'canceled', 5, T1);
    expect(ledger.seal()).toEqual(['p']);
    expect(ledger.seal()).toEqual([]);
    expect(ledger.begin('late', 'late.bin', T1)).toEqual({ cancel: true });
    // Chrome's own cancel of the cut download changes nothing more.
    const generation = ledger.manifest().generation;
    ledger.progress('p', 'canceled', 7, T1);
    expect(ledger.manifest()).toMatchObject({
      generation,
      sealed: true,
      downloads: [
        { name: 'c.bin', state: 'cancelled', bytes: 5 },
        { name: 'p.bin', state: 'partial' },
      ],
    });
  });

  it('marks a file it could not keep as partial, and ignores events for downloads it never saw', () => {
    const ledger = new DownloadLedger();
    ledger.begin('g', 'g.txt', T0);
    ledger.progress('g', 'completed', 3, T1);
    ledger.lost('g');
    expect(ledger.progress('unknown', 'completed', 3, T1)).toBeUndefined();
    expect(ledger.manifest().downloads).toMatchObject([{ name: 'g.txt', state: 'partial' }]);
  });

  it('cancels what takes the session past its cap, and every download after it, saying so', () => {
    const ledger = new DownloadLedger(100);
    ledger.begin('a', 'a.bin', T0);
    ledger.stored('a', finished(ledger.progress('a', 'completed', 60, T1)) ?? '', 60, 'a'.repeat(64), T1);
    ledger.begin('b', 'b.bin', T0);
    expect(ledger.progress('b', 'inProgress', 30, T1)).toBeUndefined();
    // 60 stored + 41 received > 100: this one goes.
    expect(ledger.progress('b', 'inProgress', 41, T1)).toEqual({ cancel: true });
    // Chrome's own "canceled" that follows changes nothing.
    expect(ledger.progress('b', 'canceled', 41, T1)).toBeUndefined();
    expect(ledger.begin('c', 'c.bin', T1)).toEqual({ cancel: true });
    expect(ledger.manifest()).toMatchObject({
      capBytes: 100,
      capReached: true,
      downloads: [
        { name: `a-${T1.getTime()}.bin`, state: 'complete', bytes: 60 },
        { name: 'b.bin', state: 'cancelled', cancelledBy: 'cap', bytes: 41 },
        { name: 'c.bin', state: 'cancelled', cancelledBy: 'cap', bytes: 0 },
      ],
    });
  });

  it('has no cap at 0', () => {
    const ledger = new DownloadLedger(0);
    ledger.begin('a', 'a.bin', T0);
    expect(finished(ledger.progress('a', 'completed', 10 ** 12, T1))).toMatch(/^a-\d+\.bin$/);
    expect(ledger.manifest()).toMatchObject({ capBytes: 0, capReached: false });
  });
});
