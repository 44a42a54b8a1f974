/** Labels and names shared by every process (decided in docs/architecture: never change them lightly). */
export const GROUP = 'browserfleet.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'browserfleet';
export const LABEL_SESSION = `${GROUP}/session`;
export const LABEL_PROJECT = `${GROUP}/project`;
/** On sessions with stored artifacts: deleting the session deletes them first (ADR 0012). */
export const FINALIZER_ARTIFACTS = `${GROUP}/artifacts`;

export const CDP_PORT = 9223;
/** Where uploaded files are in the browser's file system: Browserbase's path and Hyperbrowser's (one volume). */
export const BROWSER_UPLOAD_PATHS = { browserbase: '/tmp/.uploads', hyperbrowser: '/tmp/uploads' } as const;
export const SIDECAR_METRICS_PORT = 9224;
export const CHROME_DEBUG_PORT = 9222;
/** chromedriver's port on the browser pod's localhost (ADR 0014); like Chrome's, only the sidecar reaches it. */
export const WEBDRIVER_PORT = 9515;

export const SESSIONS_PLURAL = 'browsersessions';
export const PROJECTS_PLURAL = 'browserprojects';
