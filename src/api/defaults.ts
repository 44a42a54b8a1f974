import { type BrowserProject, type BrowserSession, DEFAULTS } from './generated.js';

/** `T` with the fields that have a scalar default in `D` made required. */
export type Defaulted<T, D> = T & {
  [K in keyof D & keyof T as D[K] extends object ? never : K]-?: NonNullable<T[K]>;
};

function withDefaults<T extends object, D extends object>(value: T, defaults: D): Defaulted<T, D> {
  const out = { ...value } as Record<string, unknown>;
  for (const [k, v] of Object.entries(defaults))
    if (out[k] === undefined && typeof v !== 'object') out[k] = v;
  return out as Defaulted<T, D>;
}

/**
 * A project's spec with the CRD's defaults in place. Objects read from the API server already have them;
 * objects built in memory (by a client, or in tests) may not, and they get the CRD's values, not a copy.
 */
export function projectSpec(p: Pick<BrowserProject, 'spec'>) {
  return withDefaults(p.spec, DEFAULTS.BrowserProject.spec);
}

/** The BrowserProject a session belongs to (spec.project, or the CRD's default). */
export function projectOf(s: { spec: Pick<BrowserSession['spec'], 'project'> }): string {
  return s.spec.project ?? DEFAULTS.BrowserSession.spec.project;
}

/** The Secret data key an API key reference reads (`key`, or the CRD's default). */
export function apiKeyDataKey(ref: NonNullable<BrowserProject['spec']['apiKeySecrets']>[number]): string {
  return ref.key ?? DEFAULTS.BrowserProject.spec.apiKeySecrets.items.key;
}
