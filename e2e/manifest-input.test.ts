import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from '../src/api/index.js';
import { paths } from '../src/shared/kube/client.js';
import { kubectl, uniqueName } from '../src/testing/cluster.js';
import { deeplyNestedJson, fuzzParams } from '../src/testing/fuzz.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

// BrowserSession and BrowserProject manifests through `kubectl apply`, against the real API server with the
// CRDs' schema and CEL rules and a real operator: each apply succeeds, or fails with a message naming the
// field; never a server error or a hang, and the operator keeps reconciling afterwards. No node runs the
// pods (a node selector nothing has), so sessions stay Starting.

let stack: SessionStack;
const projects: string[] = [];

beforeAll(async () => {
  stack = await startSessionStack({
    prefix: 'manifest',
    project: { concurrency: 2, maxQueued: 1 },
    operator: { nodeSelector: { 'browserfleet.dev/test': 'no-such-node' } },
  });
});

afterAll(async () => {
  for (const p of projects)
    await kubectl(['delete', 'browserproject', p, '--wait=false']).catch(() => undefined);
  await stack?.stop();
});

/** kubectl apply of a JSON manifest: its exit and stderr, within 30 s (longer is a hang). */
async function apply(manifest: string): Promise<{ ok: boolean; stderr: string }> {
  const run = kubectl(['apply', '-f', '-'], manifest).then(
    () => ({ ok: true, stderr: '' }),
    (err: { stderr?: string }) => ({ ok: false, stderr: err.stderr ?? String(err) }),
  );
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`kubectl apply hung: ${manifest.slice(0, 200)}`)), 30_000).unref(),
  );
  return Promise.race([run, timeout]);
}

const NAMES_A_FIELD =
  /spec\.|metadata\.|name may not be empty|unknown field|Invalid value|Required value|Unsupported value|cannot unmarshal|strict decoding|error validating|is invalid|must be|Too long|Too many|error converting YAML|json: /;

function expectNamedRefusal(r: { ok: boolean; stderr: string }): void {
  if (r.ok) return;
  // Server errors by their names, not bare numbers: the random object names hold digits ("fzp-503b29").
  expect(r.stderr).not.toMatch(
    /InternalError|Internal error|ServiceUnavailable|the server is currently unable|status code 50\d|\(50\d\)/,
  );
  expect(r.stderr).toMatch(NAMES_A_FIELD);
}

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, 0, 1, -1, 60, 21600, 21601, 2 ** 31, 1e308, true, '', 'x', 'us-west-2', 'en-US'),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { freq: 3, nil: undefined });

describe('manifests through kubectl apply under fuzzing (fixed seed; BF_FUZZ_SEED / BF_FUZZ_RUNS)', () => {
  it('a BrowserSession applies, or is refused naming the field', async () => {
    const spec = fc.record(
      {
        project: fc.oneof(fc.constant('PROJECT'), value),
        keepAlive: value,
        timeout: fc.oneof(fc.integer({ min: -10, max: 30_000 }), value),
        userMetadata: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 70 }),
          value,
          fc.integer({ min: 10, max: 3000 }).map((d) => ({ __nested: d })),
        ),
        browser: fc.oneof(
          fc.record({
            width: maybe(fc.integer({ min: 0, max: 9000 })),
            height: maybe(value),
            locale: maybe(value),
          }),
          value,
        ),
        region: value,
        release: value,
        keepalive: value,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(spec, fc.constantFrom('valid', 'BAD_Name', ''), async (s, nameKind) => {
        const name = nameKind === 'valid' ? uniqueName('fz') : `${nameKind}${nameKind ? uniqueName('') : ''}`;
        const fixed: Record<string, unknown> = { ...s };
        if (fixed['project'] === 'PROJECT') fixed['project'] = stack.project;
        let specJson = JSON.stringify(fixed);
        const nested = (s.userMetadata as { __nested?: number } | undefined)?.__nested;
        if (typeof nested === 'number')
          specJson = specJson.replace(`{"__nested":${nested}}`, deeplyNestedJson(nested));
        const manifest = `{"apiVersion":"browserfleet.dev/v1alpha1","kind":"BrowserSession","metadata":{"name":${JSON.stringify(name)},"namespace":${JSON.stringify(stack.namespace)}},"spec":${specJson}}`;
        expectNamedRefusal(await apply(manifest));
      }),
      fuzzParams('kubectl apply BrowserSession', 40),
    );
  });

  it('a BrowserProject applies, or is refused naming the field', async () => {
    const spec = fc.record(
      {
        namespace: fc.oneof(fc.constant(stack.namespace), value),
        concurrency: fc.oneof(fc.integer({ min: -2, max: 2000 }), value),
        maxQueued: fc.oneof(fc.integer({ min: -2, max: 2000 }), value),
        defaultTimeout: fc.oneof(fc.integer({ min: -2, max: 30_000 }), value),
        maxTimeout: fc.oneof(fc.integer({ min: -2, max: 30_000 }), value),
        ttlSecondsAfterFinished: value,
        createsPerMinute: value,
        apiKeySecrets: fc.oneof(
          fc.array(fc.record({ name: value }, { requiredKeys: [] }), { maxLength: 3 }),
          value,
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const name = uniqueName('fzp');
        projects.push(name);
        const manifest = JSON.stringify({
          apiVersion: 'browserfleet.dev/v1alpha1',
          kind: 'BrowserProject',
          metadata: { name },
          spec: s,
        });
        expectNamedRefusal(await apply(manifest));
      }),
      fuzzParams('kubectl apply BrowserProject', 30),
    );
  });

  it('the operator still reconciles afterwards', async () => {
    const name = uniqueName('after');
    const r = await apply(
      JSON.stringify({
        apiVersion: 'browserfleet.dev/v1alpha1',
        kind: 'BrowserSession',
        metadata: { name, namespace: stack.namespace },
        spec: { project: stack.project, timeout: 600 },
      }),
    );
    expect(r).toEqual({ ok: true, stderr: '' });
    await waitFor(
      'the operator to give the new session a phase',
      async () =>
        (await stack.client.get<BrowserSession>(paths.session(stack.namespace, name))).status?.phase,
      30_000,
    );
  });
});
