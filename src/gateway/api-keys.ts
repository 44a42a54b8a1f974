import { createHash, timingSafeEqual } from 'node:crypto';
import type { KubernetesListObject, V1Secret } from '@kubernetes/client-node';
import type { BrowserProject } from '../api/index.js';
import { apiKeyDataKey } from '../api/index.js';
import type { Clock } from '../shared/clock.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Informer } from '../shared/kube/informer.js';
import type { Logger } from '../shared/log.js';

interface KeyEntry {
  project: string;
  digest: Buffer;
}

export interface ApiKeyDirectoryOptions {
  /** How long keys read from Secrets are trusted before they are read again (a removed key works this long). */
  cacheMs: number;
  /** Reads triggered by unknown keys start at most this often, so wrong keys can't hammer the API server. */
  missRefreshMs?: number;
  /** Only projects whose sessions run in this namespace (a gateway scoped to one namespace); empty = all. */
  namespace?: string;
}

/**
 * Maps an API key to its BrowserProject by the Secrets each project names in `apiKeySecrets`. Keys are held
 * only as SHA-256 digests, compared in constant time against every entry (no early exit), and never logged.
 *
 * The index is re-read when it is older than `cacheMs` and when a project's key sources change. An unknown key
 * waits for a read that started after it arrived (reads are spaced `missRefreshMs` apart and shared by every
 * waiting request), so a key added a moment ago works, and a flood of wrong keys costs one read per interval.
 */
export class ApiKeyDirectory {
  private entries: KeyEntry[] = [];
  /** Projects as the last read listed them, for a project the informer has not shown yet. */
  private listed = new Map<string, BrowserProject>();
  /** When the last completed read started. */
  private readStartedAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;
  private dirty = true;
  /** Per project, where its keys were read from at the last read. */
  private sources = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly projects: Informer<BrowserProject>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: ApiKeyDirectoryOptions,
  ) {
    // Status updates (frequent) don't matter; a change to where a project's keys live does.
    projects.onChange((p) => {
      const name = p.metadata.name ?? '';
      const current = projects.get(name);
      if ((current ? keySources(current) : undefined) !== this.sources.get(name)) this.dirty = true;
    });
  }

  async authenticate(key: string): Promise<BrowserProject | undefined> {
    if (key === '') return undefined;
    const arrived = this.clock.now();
    if (this.dirty || arrived - this.readStartedAt > this.opts.cacheMs) await this.read();
    let found = this.find(key);
    if (!found) {
      await this.readStartedAfter(arrived);
      found = this.find(key);
    }
    return found ? (this.projects.get(found) ?? this.listed.get(found)) : undefined;
  }

  private find(key: string): string | undefined {
    const digest = createHash('sha256').update(key).digest();
    let found: string | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, digest) && found === undefined) found = e.project;
    }
    return found;
  }

  private async readStartedAfter(time: number): Promise<void> {
    const spacing = this.opts.missRefreshMs ?? 250;
    while (this.readStartedAt < time) {
      if (this.reading) {
        await this.reading;
        continue;
      }
      const wait = this.readStartedAt + spacing - this.clock.now();
      if (wait > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, wait));
      else await this.read();
    }
  }

  /** One read at a time; concurrent callers share it. */
  private read(): Promise<void> {
    this.reading ??= this.readSecrets().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readSecrets(): Promise<void> {
    const startedAt = this.clock.now();
    this.dirty = false;
    const previous = this.entries;
    const next: KeyEntry[] = [];
    const owners = new Map<string, string>();
    const sources = new Map<string, string>();
    const projects = (await this.listProjects()).filter(
      (p) => !this.opts.namespace || p.spec.namespace === this.opts.namespace,
    );
    for (const project of projects) {
      const name = project.metadata.name ?? '';
      const namespace = project.spec.namespace;
      sources.set(name, keySources(project));
      for (const ref of project.spec.apiKeySecrets ?? []) {
        const dataKey = apiKeyDataKey(ref);
        let secret: V1Secret;
        try {
          secret = await this.client.get<V1Secret>(paths.secret(namespace, ref.name));
        } catch (err) {
          if (isNotFound(err)) {
            this.log.warn('API key Secret not found', { project: name, namespace, secretName: ref.name });
            continue;
          }
          // The API server is unreachable: keep serving the keys this project had.
          this.log.warn('reading API key Secret failed; keeping the previous keys', {
            project: name,
            secretName: ref.name,
            err,
          });
          next.push(...previous.filter((e) => e.project === name));
          continue;
        }
        const encoded = secret.data?.[dataKey];
        if (!encoded) {
          this.log.warn('API key Secret has no such key', {
            project: name,
            namespace,
            secretName: ref.name,
            key: dataKey,
          });
          continue;
        }
        const digest = createHash('sha256').update(Buffer.from(encoded, 'base64')).digest();
        const owner = owners.get(digest.toString('hex'));
        if (owner !== undefined && owner !== name) {
          this.log.warn('one API key is configured for two projects; the first one wins', {
            projects: [owner, name],
          });
          continue;
        }
        owners.set(digest.toString('hex'), name);
        next.push({ project: name, digest });
      }
    }
    this.entries = next;
    this.sources = sources;
    this.listed = new Map(projects.map((p) => [p.metadata.name ?? '', p]));
    this.readStartedAt = startedAt;
  }

  /** Straight from the API, so a project created a moment ago counts; the cache if the API can't answer. */
  private async listProjects(): Promise<readonly BrowserProject[]> {
    try {
      return (await this.client.get<KubernetesListObject<BrowserProject>>(paths.projects())).items;
    } catch (err) {
      this.log.warn('listing BrowserProjects failed; using the cache', { err });
      return this.projects.list();
    }
  }
}

function keySources(p: BrowserProject): string {
  return JSON.stringify([p.spec.namespace, p.spec.apiKeySecrets ?? []]);
}
