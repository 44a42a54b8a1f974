import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { affectedBy, changedFiles, changeQueue, parseWatchLine, snapshot } from './dev-loop.js';

describe('affectedBy', () => {
  it('maps a process folder to that process only', () => {
    expect(affectedBy(['sidecar/proxy.js'])).toEqual({ processes: new Set(['sidecar']), makeDev: [] });
    expect(affectedBy(['gateway/app.js', 'operator/plan.js']).processes).toEqual(
      new Set(['gateway', 'operator']),
    );
  });

  it('gives shared code, the API types and the entry point to every process', () => {
    for (const file of ['shared/log.js', 'api/index.js', 'main.js', 'newthing/x.js']) {
      expect(affectedBy([file]).processes).toEqual(new Set(['operator', 'gateway', 'sidecar']));
    }
  });

  it("names make dev's own code apart, and ignores source maps", () => {
    expect(affectedBy(['dev/main.js', 'localcluster/real-node.js', 'sidecar/proxy.js.map'])).toEqual({
      processes: new Set(),
      makeDev: ['dev/main.js', 'localcluster/real-node.js'],
    });
  });
});

describe('changedFiles', () => {
  it('lists changed, added and removed files, sorted', () => {
    const before = new Map([
      ['a.js', '1'],
      ['b.js', '2'],
      ['c.js', '3'],
    ]);
    const after = new Map([
      ['a.js', '1'],
      ['b.js', '9'],
      ['d.js', '4'],
    ]);
    expect(changedFiles(before, after)).toEqual(['b.js', 'c.js', 'd.js']);
    expect(changedFiles(after, after)).toEqual([]);
  });
});

describe('snapshot', () => {
  it('hashes the .js files of a tree by relative path, so a rewrite with the same bytes changes nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bf-devloop-'));
    try {
      mkdirSync(path.join(dir, 'sidecar'));
      writeFileSync(path.join(dir, 'main.js'), 'a');
      writeFileSync(path.join(dir, 'sidecar/proxy.js'), 'b');
      writeFileSync(path.join(dir, 'sidecar/proxy.js.map'), '{}');
      const first = snapshot(dir);
      expect([...first.keys()].sort()).toEqual(['main.js', 'sidecar/proxy.js']);
      writeFileSync(path.join(dir, 'main.js'), 'a');
      expect(changedFiles(first, snapshot(dir))).toEqual([]);
      writeFileSync(path.join(dir, 'sidecar/proxy.js'), 'c');
      expect(changedFiles(first, snapshot(dir))).toEqual(['sidecar/proxy.js']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseWatchLine', () => {
  it("reads tsc --watch's start and end of a compile", () => {
    expect(parseWatchLine('21:20:01 - File change detected. Starting incremental compilation...')).toEqual({
      kind: 'started',
    });
    expect(parseWatchLine('21:20:03 - Found 0 errors. Watching for file changes.')).toEqual({
      kind: 'finished',
      errors: 0,
    });
    expect(parseWatchLine('21:20:03 - Found 1 error. Watching for file changes.')).toEqual({
      kind: 'finished',
      errors: 1,
    });
    expect(
      parseWatchLine("src/sidecar/proxy.ts(3,7): error TS2322: Type 'string' is not assignable"),
    ).toEqual({
      kind: 'other',
    });
  });
});

describe('changeQueue', () => {
  it('holds changes until opened, applies one at a time, and merges what comes in meanwhile', async () => {
    const applied: { changed: string[]; startedAt: number }[] = [];
    let release: () => void = () => undefined;
    const q = changeQueue(
      (changed, startedAt) => {
        applied.push({ changed, startedAt });
        return new Promise<void>((r) => {
          release = r;
        });
      },
      (err) => {
        throw err;
      },
    );
    q.add(['sidecar/a.js'], 10);
    expect(applied).toEqual([]);
    q.open();
    expect(applied).toEqual([{ changed: ['sidecar/a.js'], startedAt: 10 }]);
    q.add(['operator/b.js'], 20);
    q.add(['gateway/c.js', 'operator/b.js'], 30);
    expect(applied).toHaveLength(1);
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(applied[1]).toEqual({ changed: ['gateway/c.js', 'operator/b.js'], startedAt: 20 });
    release();
    await q.close();
    q.add(['sidecar/a.js'], 40);
    expect(applied).toHaveLength(2);
  });

  it('reports a failed apply and goes on with the next change', async () => {
    const errors: unknown[] = [];
    const seen: string[][] = [];
    const q = changeQueue(
      async (changed) => {
        seen.push(changed);
        if (seen.length === 1) throw new Error('podman failed');
      },
      (err) => errors.push(err),
    );
    q.open();
    q.add(['sidecar/a.js'], 1);
    q.add(['sidecar/b.js'], 2);
    await new Promise((r) => setTimeout(r, 0));
    await q.close();
    expect(seen).toEqual([['sidecar/a.js'], ['sidecar/b.js']]);
    expect(errors.map(String)).toEqual(['Error: podman failed']);
  });
});
