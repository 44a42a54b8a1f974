import {
  type BrowserProject,
  type BrowserSession,
  type BrowserSessionSpec,
  projectSpec,
  type SessionPhase,
  userMetadataSizeProblem,
} from '../../api/index.js';
import { ApiError } from '../errors.js';
import {
  bodyObject,
  createdAt,
  expiresAt,
  type Fields,
  isoTime,
  isPlainObject,
  oneOf,
  optionalBoolean,
  optionalInteger,
  optionalObject,
  optionalString,
  rejectUnknownFields,
  unsupported,
  updatedAt,
} from './fields.js';
import { mapRegion, type RegionMap, wireRegion } from './regions.js';

// The Browserbase dialect (@browserbasehq/sdk 2.x): wire shapes to and from BrowserSession. Pure: no I/O.

export const BB_STATUSES = ['PENDING', 'RUNNING', 'ERROR', 'TIMED_OUT', 'COMPLETED'] as const;
export type BrowserbaseStatus = (typeof BB_STATUSES)[number];

export const BB_REGIONS = ['us-west-2', 'us-east-1', 'eu-central-1', 'ap-southeast-1'] as const;
export type BrowserbaseRegion = (typeof BB_REGIONS)[number];

/** Browserbase's own bounds for `timeout`, in seconds; a project's maxTimeout lowers the upper one. */
export const BB_TIMEOUT_MIN = 60;
export const BB_TIMEOUT_MAX = 21600;
/** The CRD's maxProperties for spec.userMetadata. */
const USER_METADATA_MAX_KEYS = 64;

const STATUS_BY_PHASE: Record<SessionPhase, BrowserbaseStatus> = {
  Pending: 'PENDING',
  Queued: 'PENDING',
  Starting: 'PENDING',
  Running: 'RUNNING',
  Completed: 'COMPLETED',
  TimedOut: 'TIMED_OUT',
  Failed: 'ERROR',
};

export function browserbaseStatus(s: Pick<BrowserSession, 'status'>): BrowserbaseStatus {
  const phase = s.status?.phase;
  return phase ? STATUS_BY_PHASE[phase] : 'PENDING';
}

// Every field @browserbasehq/sdk 2.21 can send on create (its SessionCreateParams; `api_timeout` goes out as
// `timeout`), whatever the gateway does with it; any other key is refused by name.
export const BB_CREATE_FIELDS = [
  'browserSettings',
  'extensionId',
  'keepAlive',
  'projectId',
  'proxies',
  'proxySettings',
  'region',
  'timeout',
  'userMetadata',
] as const;
export const BB_BROWSER_SETTINGS_FIELDS = [
  'advancedStealth',
  'allowedDomains',
  'blockAds',
  'captchaImageSelector',
  'captchaInputSelector',
  'context',
  'extensionId',
  'ignoreCertificateErrors',
  'logSession',
  'os',
  'recordSession',
  'solveCaptchas',
  'verified',
  'viewport',
] as const;
export const BB_VIEWPORT_FIELDS = ['height', 'width'] as const;
export const BB_CONTEXT_FIELDS = ['id', 'persist'] as const;
/** The union of the SDK's three proxy shapes (browserbase, external, none). */
export const BB_PROXY_FIELDS = [
  'type',
  'domainPattern',
  'geolocation',
  'server',
  'username',
  'password',
] as const;
export const BB_GEOLOCATION_FIELDS = ['country', 'city', 'state'] as const;
export const BB_PROXY_SETTINGS_FIELDS = ['caCertificates'] as const;
/** SessionUpdateParams, and the older release form that carries the id in the body. */
export const BB_UPDATE_FIELDS = ['status', 'projectId'] as const;
export const BB_LEGACY_RELEASE_FIELDS = ['sessionId', 'status', 'projectId'] as const;

export interface CreateContext {
  project: BrowserProject;
  regions: RegionMap;
}

/** `POST /v1/sessions` body → the spec of a new BrowserSession. Every error names its field. */
export function parseBrowserbaseCreate(body: unknown, ctx: CreateContext): BrowserSessionSpec {
  const b = bodyObject(body);
  rejectUnknownFields(b, BB_CREATE_FIELDS);
  const projectName = ctx.project.metadata.name ?? '';
  const projectId = optionalString(b, 'projectId');
  if (projectId !== undefined && projectId !== projectName) {
    throw new ApiError(
      'INVALID_REQUEST',
      `projectId: this API key belongs to project "${projectName}", not "${projectId}"`,
    );
  }
  const spec: BrowserSessionSpec = {
    project: projectName,
    keepAlive: optionalBoolean(b, 'keepAlive') ?? false,
  };

  const maxTimeout = Math.min(BB_TIMEOUT_MAX, projectSpec(ctx.project).maxTimeout);
  if (b['timeout'] !== undefined && maxTimeout < BB_TIMEOUT_MIN) {
    throw new ApiError(
      'INVALID_REQUEST',
      `timeout: project "${projectName}" allows at most ${maxTimeout}s, below the minimum of ${BB_TIMEOUT_MIN}s`,
    );
  }
  const timeout = optionalInteger(b, 'timeout', BB_TIMEOUT_MIN, maxTimeout);
  if (timeout !== undefined) spec.timeout = timeout;

  const userMetadata = parseUserMetadata(b['userMetadata']);
  if (userMetadata) spec.userMetadata = userMetadata;

  const settings = optionalObject(b, 'browserSettings');
  if (settings) {
    rejectUnknownFields(settings, BB_BROWSER_SETTINGS_FIELDS, 'browserSettings.');
    const viewport = optionalObject(settings, 'viewport', 'browserSettings.viewport');
    if (viewport) {
      rejectUnknownFields(viewport, BB_VIEWPORT_FIELDS, 'browserSettings.viewport.');
      const width = optionalInteger(viewport, 'width', 320, 7680, 'browserSettings.viewport.width');
      const height = optionalInteger(viewport, 'height', 240, 4320, 'browserSettings.viewport.height');
      if (width !== undefined || height !== undefined) {
        spec.browser = {
          ...(width !== undefined ? { width } : {}),
          ...(height !== undefined ? { height } : {}),
        };
      }
    }
    const context = settings['context'];
    if (isPlainObject(context)) rejectUnknownFields(context, BB_CONTEXT_FIELDS, 'browserSettings.context.');
    if (settings['context'] !== undefined && settings['context'] !== null) {
      throw unsupported('browserSettings.context', 'persistent contexts are not supported by browserfleet');
    }
    // On by default, as on Browserbase; false means the sidecar records nothing.
    const logSession = optionalBoolean(settings, 'logSession', 'browserSettings.logSession');
    if (logSession === false) spec.logSession = false;
    if (optionalString(settings, 'extensionId', 'browserSettings.extensionId') !== undefined) {
      throw unsupported('browserSettings.extensionId', 'extensions are not supported by browserfleet');
    }
  }
  if (optionalString(b, 'extensionId') !== undefined) {
    throw unsupported('extensionId', 'extensions are not supported by browserfleet');
  }
  if (wantsProxy(b['proxies'])) throw unsupported('proxies', 'proxies are not supported by browserfleet');
  const proxySettings = optionalObject(b, 'proxySettings');
  if (proxySettings) rejectUnknownFields(proxySettings, BB_PROXY_SETTINGS_FIELDS, 'proxySettings.');

  const region = oneOf(optionalString(b, 'region'), BB_REGIONS, 'region');
  const mapped = mapRegion(region, ctx.regions, 'region');
  if (mapped !== undefined) spec.region = mapped;
  return spec;
}

function parseUserMetadata(v: unknown): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw new ApiError('INVALID_REQUEST', 'userMetadata: must be a JSON object');
  if (Object.keys(v).length > USER_METADATA_MAX_KEYS) {
    throw new ApiError('INVALID_REQUEST', `userMetadata: at most ${USER_METADATA_MAX_KEYS} top-level keys`);
  }
  const problem = userMetadataSizeProblem(v);
  if (problem) throw new ApiError('INVALID_REQUEST', `userMetadata: ${problem}`);
  return v;
}

/** `proxies: true`, or a list with any entry other than `{type: "none"}`, asks for a proxy. */
function wantsProxy(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (v === true) return true;
  if (!Array.isArray(v)) throw new ApiError('INVALID_REQUEST', 'proxies: must be true, false or a list');
  v.forEach((p, i) => {
    if (!isPlainObject(p)) return;
    rejectUnknownFields(p, BB_PROXY_FIELDS, `proxies[${i}].`);
    const geolocation = optionalObject(p, 'geolocation', `proxies[${i}].geolocation`);
    if (geolocation) rejectUnknownFields(geolocation, BB_GEOLOCATION_FIELDS, `proxies[${i}].geolocation.`);
  });
  return v.some((p) => !(isPlainObject(p) && p['type'] === 'none'));
}

/** `POST /v1/sessions/:id` (and the older form on `POST /v1/sessions`): the one update is a release. */
export function parseBrowserbaseUpdate(
  body: unknown,
  projectName: string,
  known: readonly string[] = BB_UPDATE_FIELDS,
): { status: 'REQUEST_RELEASE' } {
  const b = bodyObject(body);
  rejectUnknownFields(b, known);
  const status = optionalString(b, 'status');
  if (status !== 'REQUEST_RELEASE') {
    throw new ApiError(
      'INVALID_REQUEST',
      `status: must be "REQUEST_RELEASE"${status === undefined ? '' : `, got "${status}"`}`,
    );
  }
  const projectId = optionalString(b, 'projectId');
  if (projectId !== undefined && projectId !== projectName) {
    throw new ApiError(
      'INVALID_REQUEST',
      `projectId: this API key belongs to project "${projectName}", not "${projectId}"`,
    );
  }
  return { status };
}

/** True when a `POST /v1/sessions` body is the older release form rather than a create. */
export function isLegacyRelease(body: unknown): body is Fields & { sessionId: string } {
  return isPlainObject(body) && body['status'] === 'REQUEST_RELEASE' && body['sessionId'] !== undefined;
}

export function parseStatusFilter(v: string | undefined): BrowserbaseStatus | undefined {
  return oneOf(v === '' ? undefined : v, BB_STATUSES, 'status');
}

export interface BrowserbaseSession {
  id: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string;
  expiresAt: string;
  endedAt?: string;
  status: BrowserbaseStatus;
  keepAlive: boolean;
  projectId: string;
  proxyBytes: number;
  region: string;
  userMetadata?: Record<string, unknown>;
}

/** What a session's holder may use to reach it; only given to the caller that owns the session. */
export interface BrowserbaseLinks {
  connectUrl: string;
  seleniumRemoteUrl: string;
  signingKey: string;
}

export interface WireOptions {
  project: BrowserProject;
  regions: RegionMap;
  defaultRegion: string;
  now: number;
}

export function toBrowserbaseSession(s: BrowserSession, o: WireOptions): BrowserbaseSession {
  const created = createdAt(s);
  const ended = isoTime(s.status?.endedAt);
  const out: BrowserbaseSession = {
    id: s.metadata.name ?? '',
    createdAt: created,
    updatedAt: updatedAt(s),
    startedAt: isoTime(s.status?.startedAt) ?? created,
    // A session that ended before admission never had an expiry; its end is the nearest truth.
    expiresAt:
      s.status?.expiresAt || !ended ? expiresAt(s, projectSpec(o.project).defaultTimeout, o.now) : ended,
    status: browserbaseStatus(s),
    keepAlive: s.spec.keepAlive === true,
    projectId: s.spec.project ?? o.project.metadata.name ?? '',
    proxyBytes: 0,
    region: wireRegion(s.spec.region, BB_REGIONS, o.regions) ?? o.defaultRegion,
  };
  if (ended) out.endedAt = ended;
  if (s.spec.userMetadata) out.userMetadata = s.spec.userMetadata;
  return out;
}

export function toBrowserbaseSessionWithLinks(
  s: BrowserSession,
  o: WireOptions,
  links: BrowserbaseLinks,
): BrowserbaseSession & BrowserbaseLinks {
  return { ...toBrowserbaseSession(s, o), ...links };
}

export interface DebugPage {
  id: string;
  url: string;
  title: string;
  faviconUrl: string;
  debuggerUrl: string;
  debuggerFullscreenUrl: string;
}

export interface BrowserbaseDebug {
  debuggerFullscreenUrl: string;
  debuggerUrl: string;
  wsUrl: string;
  pages: DebugPage[];
}

/** A DevTools target as Chrome lists it in /json/list. */
export interface DevtoolsTarget {
  id: string;
  type: string;
  url: string;
  title: string;
  faviconUrl?: string;
}

/**
 * `GET /v1/sessions/:id/debug`. `liveUrl(pageId?)` builds a live-view link (for one page, or the active one);
 * the fullscreen variant hides the viewer's toolbar, as Browserbase's does.
 */
export function toBrowserbaseDebug(
  targets: readonly DevtoolsTarget[],
  wsUrl: string,
  liveUrl: (pageId: string | undefined, fullscreen: boolean) => string,
): BrowserbaseDebug {
  return {
    debuggerFullscreenUrl: liveUrl(undefined, true),
    debuggerUrl: liveUrl(undefined, false),
    wsUrl,
    pages: targets
      .filter((t) => t.type === 'page')
      .map((t) => ({
        id: t.id,
        url: t.url,
        title: t.title,
        faviconUrl: t.faviconUrl ?? '',
        debuggerUrl: liveUrl(t.id, false),
        debuggerFullscreenUrl: liveUrl(t.id, true),
      })),
  };
}
