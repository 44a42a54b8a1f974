/**
 * What a WebDriver client may ask of a session's Chrome, and the new-session body chromedriver gets instead
 * (ADR 0014). The session's Chrome is already running when a Selenium client arrives, so chromedriver attaches
 * to it (`goog:chromeOptions.debuggerAddress`) rather than launching one: capabilities that only mean something
 * at launch (another browser, a binary, flags, extensions, preferences) cannot be honoured and are refused with
 * a message, never dropped. Everything else passes through to chromedriver, which judges it as usual.
 */

/** A WebDriver error as the W3C spec's JSON shape carries it (`{ value: { error, message, stacktrace } }`). */
export interface WebDriverError {
  status: number;
  error: string;
  message: string;
}

export function webdriverErrorBody(e: Pick<WebDriverError, 'error' | 'message'>): {
  value: { error: string; message: string; stacktrace: string };
} {
  return { value: { error: e.error, message: e.message, stacktrace: '' } };
}

const BROWSER_NAMES = new Set(['chrome', 'chromium']);
/** chromeOptions that only act when chromedriver starts Chrome; empty lists and false are no request at all. */
const LAUNCH_OPTIONS = [
  'binary',
  'args',
  'extensions',
  'prefs',
  'localState',
  'excludeSwitches',
  'detach',
  'minidumpPath',
  'debuggerAddress',
  'androidPackage',
  'androidActivity',
  'androidDeviceSerial',
  'androidProcess',
  'androidUseRunningApp',
];

type Caps = Record<string, unknown>;

const isObject = (v: unknown): v is Caps => typeof v === 'object' && v !== null && !Array.isArray(v);

function asksForSomething(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return v !== '';
}

function sessionNotCreated(message: string): WebDriverError {
  return { status: 500, error: 'session not created', message };
}

function invalidArgument(message: string): WebDriverError {
  return { status: 400, error: 'invalid argument', message };
}

/** Why one capabilities object (alwaysMatch, or alwaysMatch merged with a firstMatch entry) cannot be had. */
function refusal(caps: Caps, where: string): WebDriverError | undefined {
  const browserName = caps['browserName'];
  if (browserName !== undefined && (typeof browserName !== 'string' || !BROWSER_NAMES.has(browserName)))
    return sessionNotCreated(
      `${where}.browserName: this session's browser is Chromium; ${JSON.stringify(browserName)} cannot be had here (ask for "chrome" or leave it out)`,
    );
  const options = caps['goog:chromeOptions'];
  if (options === undefined) return undefined;
  if (!isObject(options)) return invalidArgument(`${where}.goog:chromeOptions: must be an object`);
  for (const key of LAUNCH_OPTIONS) {
    if (asksForSomething(options[key]))
      return sessionNotCreated(
        `${where}.goog:chromeOptions.${key}: the session's Chrome is already running, so launch options cannot ` +
          'be applied; set browser settings when the session is created',
      );
  }
  return undefined;
}

function withoutLaunchOptions(caps: Caps, debuggerAddress: string | undefined): Caps {
  const given = isObject(caps['goog:chromeOptions']) ? caps['goog:chromeOptions'] : undefined;
  const kept: Caps = {};
  for (const [key, value] of Object.entries(given ?? {}))
    if (!LAUNCH_OPTIONS.includes(key)) kept[key] = value;
  const out: Caps = { ...caps };
  // chromedriver answers only to "chrome"; a client that asked for "chromium" gets the same browser.
  if (out['browserName'] === 'chromium') out['browserName'] = 'chrome';
  if (debuggerAddress !== undefined) out['goog:chromeOptions'] = { ...kept, debuggerAddress };
  else if (given) out['goog:chromeOptions'] = kept;
  return out;
}

/**
 * The new-session body for chromedriver, attached to the session's Chrome at `debuggerAddress`, or the
 * WebDriver error the client gets. Accepts the W3C form (`capabilities: { alwaysMatch, firstMatch }`) and,
 * for old clients, a bare `desiredCapabilities` (taken as alwaysMatch).
 */
export function attachCapabilities(
  body: unknown,
  debuggerAddress: string,
): { body: { capabilities: { alwaysMatch: Caps; firstMatch?: Caps[] } } } | { refused: WebDriverError } {
  if (!isObject(body)) return { refused: invalidArgument('body: must be a JSON object with "capabilities"') };
  const w3c = body['capabilities'];
  const legacy = body['desiredCapabilities'];
  let alwaysMatch: Caps;
  let firstMatch: Caps[] | undefined;
  if (w3c !== undefined) {
    if (!isObject(w3c)) return { refused: invalidArgument('capabilities: must be an object') };
    const always = w3c['alwaysMatch'] ?? {};
    if (!isObject(always)) return { refused: invalidArgument('capabilities.alwaysMatch: must be an object') };
    alwaysMatch = always;
    const first = w3c['firstMatch'];
    if (first !== undefined) {
      if (!Array.isArray(first) || first.length === 0 || !first.every(isObject))
        return {
          refused: invalidArgument('capabilities.firstMatch: must be a non-empty list of objects'),
        };
      firstMatch = first;
    }
  } else if (legacy !== undefined) {
    if (!isObject(legacy)) return { refused: invalidArgument('desiredCapabilities: must be an object') };
    alwaysMatch = legacy;
  } else {
    alwaysMatch = {};
  }
  const alwaysRefused = refusal(alwaysMatch, 'capabilities.alwaysMatch');
  if (alwaysRefused) return { refused: alwaysRefused };
  if (firstMatch) {
    // W3C: the first entry that merges and validates wins; only when none can be had is the session refused.
    const usable = firstMatch.filter((f) => !refusal({ ...alwaysMatch, ...f }, 'capabilities'));
    if (usable.length === 0) {
      const why = refusal({ ...alwaysMatch, ...firstMatch[0] }, 'capabilities.firstMatch[0]');
      return { refused: why ?? sessionNotCreated('capabilities.firstMatch: no entry can be had') };
    }
    // debuggerAddress goes into alwaysMatch; a firstMatch entry may not repeat a key alwaysMatch has.
    const always = withoutLaunchOptions(alwaysMatch, debuggerAddress);
    const options = always['goog:chromeOptions'] as Caps;
    return {
      body: {
        capabilities: {
          alwaysMatch: Object.fromEntries(Object.entries(always).filter(([k]) => k !== 'goog:chromeOptions')),
          firstMatch: usable.map((f) => {
            const entry = withoutLaunchOptions({ ...f }, undefined);
            const own = isObject(entry['goog:chromeOptions']) ? entry['goog:chromeOptions'] : {};
            return { ...entry, 'goog:chromeOptions': { ...options, ...own, debuggerAddress } };
          }),
        },
      },
    };
  }
  return { body: { capabilities: { alwaysMatch: withoutLaunchOptions(alwaysMatch, debuggerAddress) } } };
}
