import { z } from 'zod';
import { type Env, parseConfig } from '../shared/config.js';

export interface SessionIdentity {
  namespace: string;
  name: string;
  uid: string;
}

const required = z.string().trim().min(1, 'is required');
const port = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a TCP port number (0-65535)')
  .transform(Number)
  .pipe(z.number().max(65535, 'must be a TCP port number (0-65535)'));
const isHttpUrl = (raw: string, protocols: string[]) => {
  try {
    return protocols.includes(new URL(raw).protocol);
  } catch {
    return false;
  }
};

/**
 * The env contract the operator puts on the sidecar container (src/operator/children.ts). Other variables of
 * the process environment are none of the sidecar's business, so unknown names are not refused here.
 */
export const sidecarEnvSchema = z
  .object({
    BF_LISTEN_PORT: port,
    BF_METRICS_PORT: port,
    /** Chrome's DevTools HTTP root, e.g. http://127.0.0.1:9222; plain http, it is in the same pod. */
    BF_CHROME_URL: z
      .string()
      .trim()
      .refine((v) => isHttpUrl(v, ['http:']), 'must be an absolute http:// URL')
      .transform((v) => new URL(v)),
    BF_SESSION_NAMESPACE: required,
    BF_SESSION_NAME: required,
    BF_SESSION_UID: required,
    BF_SESSION_TOKEN: required,
    /** Empty or absent: reporting is off (local runs without an operator). */
    BF_REPORT_URL: z
      .string()
      .trim()
      .refine(
        (v) => v === '' || isHttpUrl(v, ['http:', 'https:']),
        'must be an absolute http(s) URL or empty',
      )
      .default(''),
    /**
     * The session's download folder: a volume of its own pod, shared with the Chrome container, which writes
     * there (ADR 0012). Absolute, since Chrome is told this path.
     */
    BF_DOWNLOAD_DIR: z
      .string()
      .trim()
      .refine((v) => v.startsWith('/'), 'must be an absolute path')
      .default('/var/run/browserfleet/downloads'),
    /** The session's upload folder: a volume Chrome mounts read-only where the dialects document uploads. */
    BF_UPLOAD_DIR: z
      .string()
      .trim()
      .refine((v) => v.startsWith('/'), 'must be an absolute path')
      .default('/var/run/browserfleet/uploads'),
    /** The session's cap on downloaded bytes (the project's maxDownloadBytes); 0 or absent: none. */
    BF_DOWNLOAD_CAP_BYTES: z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a whole number of bytes')
      .transform(Number)
      .default(0),
    /** `off`: the session's CDP log is not recorded (Browserbase's browserSettings.logSession: false). */
    BF_CDP_LOG: z.enum(['on', 'off']).default('on'),
    /** The pod's chromedriver (ADR 0014), on the pod's localhost like Chrome; reached only through this door. */
    BF_WEBDRIVER_URL: z
      .string()
      .trim()
      .refine((v) => isHttpUrl(v, ['http:']), 'must be an absolute http:// URL')
      .transform((v) => new URL(v))
      .default(new URL('http://127.0.0.1:9515')),
    /**
     * How long a WebDriver session may go without a command before the sidecar ends it (HTTP has no
     * disconnect; Selenium Grid's default session timeout is the same 300 s).
     */
    BF_WEBDRIVER_IDLE_SECONDS: z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a whole number of seconds')
      .transform(Number)
      .pipe(z.number().min(1, 'must be at least 1 second'))
      .default(300),
  })
  .transform((e) => ({
    /** Address the CDP proxy binds; 0.0.0.0 in a pod, 127.0.0.1 in tests. */
    host: '0.0.0.0',
    listenPort: e.BF_LISTEN_PORT,
    metricsPort: e.BF_METRICS_PORT,
    chromeUrl: e.BF_CHROME_URL,
    session: { namespace: e.BF_SESSION_NAMESPACE, name: e.BF_SESSION_NAME, uid: e.BF_SESSION_UID },
    sessionToken: e.BF_SESSION_TOKEN,
    reportUrl: e.BF_REPORT_URL,
    downloadDir: e.BF_DOWNLOAD_DIR,
    uploadDir: e.BF_UPLOAD_DIR,
    cdpLog: e.BF_CDP_LOG === 'on',
    downloadCapBytes: e.BF_DOWNLOAD_CAP_BYTES,
    webdriverUrl: e.BF_WEBDRIVER_URL,
    webdriverIdleMs: e.BF_WEBDRIVER_IDLE_SECONDS * 1000,
    reportIntervalMs: 10_000,
    /** Idle client legs get a ws ping this often, so intermediate proxies don't drop quiet sockets. */
    clientPingIntervalMs: 20_000,
  }));

export type SidecarConfig = z.output<typeof sidecarEnvSchema>;

/** Reads the env contract; throws a ConfigError naming every bad variable. */
export function sidecarConfigFromEnv(env: Env): SidecarConfig {
  return parseConfig(sidecarEnvSchema, env, 'environment');
}
