import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body: unknown,
    /** The server's Retry-After (header, or the Status' details.retryAfterSeconds), when it gave one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The API server's own words (the Status' message), without the request line this error adds. */
  get statusMessage(): string {
    const body = this.body as { message?: unknown } | string | undefined;
    if (typeof body === 'string') return body;
    return typeof body?.message === 'string' ? body.message : this.message;
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeApiError && e.code === 404;
export const isAlreadyExists = (e: unknown) =>
  e instanceof KubeApiError && e.code === 409 && e.reason === 'AlreadyExists';
export const isConflict = (e: unknown) =>
  e instanceof KubeApiError && e.code === 409 && e.reason !== 'AlreadyExists';
export const isInvalid = (e: unknown) => e instanceof KubeApiError && (e.code === 422 || e.code === 400);

/**
 * What a failed API request means for the reconcile that made it. A closed set, so that every worker loop
 * treats the same failure the same way:
 * - notFound: the object is gone; its deletion reaches the caches as an event, so retrying is pointless.
 * - conflict: written against a stale view (409, 410): try again at once, from fresh caches.
 * - refused: the API server will refuse the same request again (400, 403, 422, other 4xx): quota, Pod
 *   Security admission, an invalid object. Retrying cannot help; whoever asked must be told.
 * - throttled: 429; wait at least as long as the server asked (`retryAfterMs`).
 * - unavailable: 5xx, 401 (credentials may rotate), 408, network errors, anything unrecognised: back off.
 */
export type ErrorClass =
  | { kind: 'notFound' }
  | { kind: 'conflict' }
  | { kind: 'refused'; code: number; reason: string; message: string }
  | { kind: 'throttled'; retryAfterMs?: number }
  | { kind: 'unavailable' };

export function classifyError(e: unknown): ErrorClass {
  if (!(e instanceof KubeApiError)) return { kind: 'unavailable' };
  const { code } = e;
  if (code === 404) return { kind: 'notFound' };
  if (code === 409 || code === 410) return { kind: 'conflict' };
  if (code === 429)
    return e.retryAfterSeconds !== undefined
      ? { kind: 'throttled', retryAfterMs: e.retryAfterSeconds * 1000 }
      : { kind: 'throttled' };
  if (code >= 400 && code < 500 && code !== 401 && code !== 408)
    return { kind: 'refused', code, reason: e.reason, message: e.statusMessage };
  return { kind: 'unavailable' };
}

/** Retry-After in seconds; the HTTP-date form is not used by the API server and is ignored. */
function retryAfterSeconds(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim());
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/**
 * A thin JSON client for the Kubernetes API over one keep-alive agent. The generated client of
 * @kubernetes/client-node is used for watches (through its informers); writes go through here so that the
 * content type, field manager and preconditions are explicit, and every request is counted (the scale
 * benchmark reports apiserver requests per session).
 */
export class KubeClient {
  readonly requestsByVerb = new Map<string, number>();
  private readonly agent: https.Agent;

  private constructor(
    readonly kc: KubeConfig,
    private readonly server: URL,
    private readonly tls: https.RequestOptions,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  }

  /** From a kubeconfig file, or (no path) from KUBECONFIG / the in-cluster service account. */
  static async create(kubeconfigPath?: string): Promise<KubeClient> {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const tls: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    return new KubeClient(kc, new URL(cluster.server), tls);
  }

  /** The API server this client talks to. */
  get serverUrl(): URL {
    return new URL(this.server.href);
  }

  get totalRequests(): number {
    let n = 0;
    for (const v of this.requestsByVerb.values()) n += v;
    return n;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    this.requestsByVerb.set(method, (this.requestsByVerb.get(method) ?? 0) + 1);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        url,
        {
          ...this.tls,
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(this.tls.headers ?? {}),
            ...(body !== undefined
              ? {
                  'content-type': opts.contentType ?? 'application/json',
                  'content-length': Buffer.byteLength(body),
                }
              : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // non-JSON body (rare: proxies); keep the text for the error
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) return resolve(parsed as T);
            const status = (parsed ?? {}) as {
              reason?: string;
              message?: string;
              details?: { retryAfterSeconds?: number };
            };
            reject(
              new KubeApiError(
                code,
                status.reason ?? '',
                `${method} ${url.pathname}: ${code} ${status.message ?? text}`,
                parsed,
                retryAfterSeconds(res.headers['retry-after']) ?? status.details?.retryAfterSeconds,
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {});
  }

  create<T>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return this.request<T>('POST', path, { body, query: { fieldManager } });
  }

  mergePatch<T>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: MERGE_PATCH, query: { fieldManager } });
  }

  apply<T>(path: string, body: unknown, fieldManager: string, force = true): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: APPLY_PATCH, query: { fieldManager, force } });
  }

  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body === undefined ? {} : { body });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** REST paths, so that no caller assembles them by hand. */
export const paths = {
  sessions: (ns?: string) =>
    ns
      ? `/apis/browserfleet.dev/v1alpha1/namespaces/${ns}/browsersessions`
      : '/apis/browserfleet.dev/v1alpha1/browsersessions',
  session: (ns: string, name: string) =>
    `/apis/browserfleet.dev/v1alpha1/namespaces/${ns}/browsersessions/${name}`,
  sessionStatus: (ns: string, name: string) =>
    `/apis/browserfleet.dev/v1alpha1/namespaces/${ns}/browsersessions/${name}/status`,
  projects: () => '/apis/browserfleet.dev/v1alpha1/browserprojects',
  project: (name: string) => `/apis/browserfleet.dev/v1alpha1/browserprojects/${name}`,
  projectStatus: (name: string) => `/apis/browserfleet.dev/v1alpha1/browserprojects/${name}/status`,
  nodes: () => '/api/v1/nodes',
  pods: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
  pod: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`,
  services: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/services` : '/api/v1/services'),
  service: (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`,
  events: (ns: string) => `/api/v1/namespaces/${ns}/events`,
  leases: (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  lease: (ns: string, name: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  namespaces: () => '/api/v1/namespaces',
  secret: (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`,
};
