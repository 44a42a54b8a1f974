import { describe, expect, it } from 'vitest';
import { DownloadLedger } from './ledger.js';

const T0 = new Date('2026-12-01T10:00:00.000Z');
const T1 = new Date('2026-12-01T10:00:01.000Z');

describe('DownloadLedger', () => {
  it('lists a download in progress, then complete under its timestamped name, bumping the generation', () => {
    const ledger = new DownloadLedger();
    expect(ledger.begin('g1', 'report.pdf', T0)).toBe(true);
    expect(ledger.manifest()).toMatchObject({
      generation: 0,
      downloads: [{ name: 'report.pdf', state: 'in-progress', startedAt: T0.toISOString() }],
    });
    expect(ledger.progress('g1', 'inProgress', 10, T0)).toBeUndefined();
    const name = ledger.progress('g1', 'completed', 20, T1);
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
    const first = ledger.progress('a', 'completed', 1, T1);
    const second = ledger.progress('b', 'completed', 1, T1);
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
    expect(ledger.begin('late', 'late.bin', T1)).toBe(false);
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
});
