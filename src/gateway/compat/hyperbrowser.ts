import type { BrowserProject, BrowserSession, BrowserSessionSpec, SessionPhase } from '../../api/index.js';
import { isTerminal, projectSpec } from '../../api/index.js';
import { ApiError } from '../errors.js';
import {
  bodyObject,
  createdAt,
  isoTime,
  isPlainObject,
  oneOf,
  optionalBoolean,
  optionalInteger,
  optionalObject,
  optionalString,
  optionalStringArray,
  rejectUnknownFields,
  unsupported,
  updatedAt,
} from './fields.js';
import { mapRegion, type RegionMap } from './regions.js';

// The Hyperbrowser dialect (@hyperbrowser/sdk 0.9x): wire shapes to and from BrowserSession. Pure: no I/O.

export const HB_STATUSES = ['active', 'closed', 'error', 'close-error'] as const;
export type HyperbrowserStatus = (typeof HB_STATUSES)[number];

export const HB_REGIONS = [
  'us',
  'us-central',
  'asia-south',
  'us-dev',
  'europe-west',
  'us-west',
  'us-east',
] as const;

const STATUS_BY_PHASE: Record<SessionPhase, HyperbrowserStatus> = {
  Pending: 'active',
  Queued: 'active',
  Starting: 'active',
  Running: 'active',
  Completed: 'closed',
  TimedOut: 'closed',
  Failed: 'error',
};

export function hyperbrowserStatus(s: Pick<BrowserSession, 'status'>): HyperbrowserStatus {
  const phase = s.status?.phase;
  return phase ? STATUS_BY_PHASE[phase] : 'active';
}

export interface CreateContext {
  project: BrowserProject;
  regions: RegionMap;
  /** The installation keeps artifacts (an artifact store is configured): saveDownloads can be honoured. */
  artifactsKept?: boolean;
}

export interface HyperbrowserCreate {
  spec: BrowserSessionSpec;
  /** How long the live-view link in the answer stays valid. */
  liveViewTtlSeconds?: number;
}

// Every field @hyperbrowser/sdk 0.92.6 can send on create (its CreateSessionParams), whatever the gateway does
// with it; any other key is refused by name.
export const HB_CREATE_FIELDS = [
  'useUltraStealth',
  'useStealth',
  'useProxy',
  'proxyServer',
  'proxyServerPassword',
  'proxyServerUsername',
  'proxyCountry',
  'proxyState',
  'proxyCity',
  'operatingSystems',
  'device',
  'platform',
  'locales',
  'screen',
  'solveCaptchas',
  'solverType',
  'adblock',
  'trackers',
  'annoyances',
  'enableWebRecording',
  'enableVideoWebRecording',
  'enableLogCapture',
  'allowInternetAccess',
  'allowOut',
  'denyOut',
  'profile',
  'extensionIds',
  'staticIpId',
  'acceptCookies',
  'urlBlocklist',
  'browserArgs',
  'disabledExternalProtocols',
  'saveDownloads',
  'imageCaptchaParams',
  'timeoutMinutes',
  'enableWebglFingerprinting',
  'enableWindowManager',
  'enableWindowManagerTaskbar',
  'region',
  'viewOnlyLiveView',
  'allowOnGeolocationPrompt',
  'disablePasswordManager',
  'enableAlwaysOpenPdfExternally',
  'appendTimestampToDownloads',
  'showScrollbars',
  'liveViewTtlSeconds',
  'replaceNativeElements',
  'disablePostQuantumKeyAgreement',
  'browserMemorySize',
  'startFromSnapshot',
] as const;
export const HB_SCREEN_FIELDS = ['width', 'height'] as const;
export const HB_PROFILE_FIELDS = ['id', 'persistChanges', 'persistNetworkCache'] as const;
export const HB_IMAGE_CAPTCHA_FIELDS = ['imageSelector', 'inputSelector'] as const;
export const HB_SNAPSHOT_FIELDS = ['snapshotId'] as const;

const LOCALE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/**
 * `POST /api/session` body → the spec of a new BrowserSession. Hyperbrowser has no keepAlive create field: a
 * session ends on its client's disconnect unless the client connected with `&keepAlive=true`.
 */
export function parseHyperbrowserCreate(body: unknown, ctx: CreateContext): HyperbrowserCreate {
  const b = bodyObject(body);
  rejectUnknownFields(b, HB_CREATE_FIELDS);
  const projectName = ctx.project.metadata.name ?? '';
  const spec: BrowserSessionSpec = { project: projectName, keepAlive: false };

  const maxMinutes = Math.floor(projectSpec(ctx.project).maxTimeout / 60);
  if (b['timeoutMinutes'] !== undefined && maxMinutes < 1) {
    throw new ApiError(
      'INVALID_REQUEST',
      `timeoutMinutes: project "${projectName}" allows sessions of less than a minute`,
    );
  }
  const minutes = optionalInteger(b, 'timeoutMinutes', 1, Math.min(720, maxMinutes));
  if (minutes !== undefined) spec.timeout = minutes * 60;

  const screen = optionalObject(b, 'screen');
  if (screen) rejectUnknownFields(screen, HB_SCREEN_FIELDS, 'screen.');
  const width = screen ? optionalInteger(screen, 'width', 320, 7680, 'screen.width') : undefined;
  const height = screen ? optionalInteger(screen, 'height', 240, 4320, 'screen.height') : undefined;
  const browser: NonNullable<BrowserSessionSpec['browser']> = {};
  if (width !== undefined) browser.width = width;
  if (height !== undefined) browser.height = height;
  const locales = optionalStringArray(b, 'locales');
  const locale = locales?.[0];
  if (locale !== undefined) {
    if (!LOCALE.test(locale))
      throw new ApiError('INVALID_REQUEST', `locales[0]: "${locale}" is not a language tag such as en-US`);
    browser.locale = locale;
  }
  if (Object.keys(browser).length > 0) spec.browser = browser;

  if (optionalBoolean(b, 'useProxy') === true || optionalString(b, 'proxyServer') !== undefined) {
    throw unsupported('useProxy', 'proxies are not supported by browserfleet');
  }
  const profile = optionalObject(b, 'profile');
  if (profile) rejectUnknownFields(profile, HB_PROFILE_FIELDS, 'profile.');
  const snapshot = b['startFromSnapshot'];
  if (isPlainObject(snapshot)) rejectUnknownFields(snapshot, HB_SNAPSHOT_FIELDS, 'startFromSnapshot.');
  const captchas = b['imageCaptchaParams'];
  if (Array.isArray(captchas)) {
    captchas.forEach((c, i) => {
      if (isPlainObject(c)) rejectUnknownFields(c, HB_IMAGE_CAPTCHA_FIELDS, `imageCaptchaParams[${i}].`);
    });
  }
  if (profile && profile['id'] !== undefined && profile['id'] !== null) {
    throw unsupported('profile', 'persistent profiles are not supported by browserfleet');
  }
  if ((optionalStringArray(b, 'extensionIds') ?? []).length > 0) {
    throw unsupported('extensionIds', 'extensions are not supported by browserfleet');
  }
  if ((optionalStringArray(b, 'browserArgs') ?? []).length > 0) {
    throw unsupported('browserArgs', 'browser flags are set by the platform');
  }
  if (b['startFromSnapshot'] !== undefined && b['startFromSnapshot'] !== null) {
    throw unsupported('startFromSnapshot', 'snapshots are not supported by browserfleet');
  }

  // Hyperbrowser keeps downloads only when asked; so does browserfleet, and refuses what it cannot keep.
  const saveDownloads = optionalBoolean(b, 'saveDownloads') === true;
  if (saveDownloads && !ctx.artifactsKept)
    throw unsupported(
      'saveDownloads',
      'downloads are not kept by this installation: its artifact store is off',
    );
  spec.saveDownloads = saveDownloads;

  const region = oneOf(optionalString(b, 'region'), HB_REGIONS, 'region');
  const mapped = mapRegion(region, ctx.regions, 'region');
  if (mapped !== undefined) spec.region = mapped;

  const liveViewTtlSeconds = optionalInteger(b, 'liveViewTtlSeconds', 1, 7 * 24 * 3600);
  return liveViewTtlSeconds === undefined ? { spec } : { spec, liveViewTtlSeconds };
}

export function parseStatusFilter(v: string | undefined): HyperbrowserStatus | undefined {
  return oneOf(v === '' ? undefined : v, HB_STATUSES, 'status');
}

export interface CreditBreakdown {
  creditsUsed: number | null;
  browserTimeCreditsUsed: number | null;
  proxyDataCreditsUsed: number | null;
}

export interface HyperbrowserSession {
  id: string;
  teamId: string;
  status: HyperbrowserStatus;
  startTime?: number;
  endTime?: number;
  createdAt: string;
  updatedAt: string;
  sessionUrl: string;
  launchState: {
    screen?: { width?: number; height?: number };
    locales?: string[];
    timeoutMinutes?: number;
  } | null;
  creditsUsed: number | null;
  creditBreakdown: CreditBreakdown;
}

export interface HyperbrowserLinks {
  wsEndpoint: string;
  token: string;
  liveUrl: string;
  /** Selenium's remote URL; the client sends `x-hyperbrowser-token: <token>` with every command (ADR 0014). */
  webdriverEndpoint: string;
}

export function toHyperbrowserSession(s: BrowserSession, sessionUrl: string): HyperbrowserSession {
  const started = isoTime(s.status?.startedAt);
  const ended = isoTime(s.status?.endedAt);
  const browser = s.spec.browser;
  const launchState: HyperbrowserSession['launchState'] = {};
  if (browser?.width !== undefined || browser?.height !== undefined) {
    launchState.screen = {
      ...(browser.width !== undefined ? { width: browser.width } : {}),
      ...(browser.height !== undefined ? { height: browser.height } : {}),
    };
  }
  if (browser?.locale) launchState.locales = [browser.locale];
  if (s.spec.timeout !== undefined) launchState.timeoutMinutes = Math.round(s.spec.timeout / 60);
  const out: HyperbrowserSession = {
    id: s.metadata.name ?? '',
    teamId: s.spec.project ?? '',
    status: hyperbrowserStatus(s),
    createdAt: createdAt(s),
    updatedAt: updatedAt(s),
    sessionUrl,
    launchState: Object.keys(launchState).length > 0 ? launchState : null,
    creditsUsed: null,
    creditBreakdown: { creditsUsed: null, browserTimeCreditsUsed: null, proxyDataCreditsUsed: null },
  };
  // Hyperbrowser's times are epoch milliseconds, unlike its ISO createdAt/updatedAt.
  if (started) out.startTime = Date.parse(started);
  if (ended) out.endTime = Date.parse(ended);
  return out;
}

export function toHyperbrowserSessionDetail(
  s: BrowserSession,
  sessionUrl: string,
  links: HyperbrowserLinks,
): HyperbrowserSession & HyperbrowserLinks {
  return { ...toHyperbrowserSession(s, sessionUrl), ...links };
}

export interface HyperbrowserPage<T> {
  sessions: T[];
  totalCount: number;
  page: number;
  perPage: number;
}

/** Hyperbrowser pages are 1-based; `limit` is echoed back as `perPage`. */
export function paginate<T>(items: readonly T[], page: number, perPage: number): HyperbrowserPage<T> {
  const start = (page - 1) * perPage;
  return { sessions: items.slice(start, start + perPage), totalCount: items.length, page, perPage };
}

/** `getDownloadsURL`'s answer, as @hyperbrowser/sdk reads it (GetSessionDownloadsUrlResponse). */
export interface HyperbrowserDownloads {
  status: 'not_enabled' | 'pending' | 'in_progress' | 'completed' | 'failed';
  downloadsUrl: string | null;
  error: string | null;
}

/**
 * Where a session's downloads are, in Hyperbrowser's words: not kept (no store, or a session created without
 * `saveDownloads`), pending before its browser runs, in progress until the end's flush is recorded, then
 * completed with a link to the zip (with the reason when something was cut off), or failed with the store's.
 */
export function toHyperbrowserDownloads(
  s: BrowserSession,
  artifactsKept: boolean,
  link: () => string,
): HyperbrowserDownloads {
  const none = { downloadsUrl: null, error: null };
  if (!artifactsKept || s.spec.saveDownloads === false) return { status: 'not_enabled', ...none };
  const st = s.status ?? {};
  const a = st.artifacts;
  if (!isTerminal(s)) return { status: st.readyAt === undefined ? 'pending' : 'in_progress', ...none };
  // Ended without a browser ever running: nothing was downloaded, and no flush will come.
  if (!a && st.readyAt === undefined) return { status: 'completed', downloadsUrl: link(), error: null };
  if (!a?.flushed) return { status: 'in_progress', ...none };
  if (a.state === 'Failed')
    return { status: 'failed', downloadsUrl: null, error: `${a.reason ?? 'Failed'}: ${a.message ?? ''}` };
  return {
    status: 'completed',
    downloadsUrl: link(),
    error: a.state === 'Incomplete' ? (a.message ?? null) : null,
  };
}
