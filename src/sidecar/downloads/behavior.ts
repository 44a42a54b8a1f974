/**
 * What the sidecar sends Chrome in place of a client's `Browser.setDownloadBehavior`, so that downloads land in
 * the session's own storage whatever the client asked (Playwright sends one on connect with a folder on the
 * client's machine, which does not exist in the pod, and Chrome then cancels every download). Pure: the proxy
 * forwards the result and keeps `clientWantsEvents` to decide whether that client sees `Browser.download*`
 * events (the sidecar always needs them, to know when a file is complete).
 */

export const DOWNLOAD_BEHAVIORS = ['deny', 'allow', 'allowAndName', 'default'] as const;
export type DownloadBehaviorName = (typeof DOWNLOAD_BEHAVIORS)[number];

/** `Browser.setDownloadBehavior`'s parameters (CDP). */
export interface DownloadBehaviorParams {
  behavior: DownloadBehaviorName;
  browserContextId?: string;
  downloadPath?: string;
  eventsEnabled?: boolean;
}

export interface SessionDownloadBehavior {
  params: DownloadBehaviorParams;
  clientWantsEvents: boolean;
}

/**
 * - `deny` is kept: the client wants no downloads in that context, and none land anywhere.
 * - `allow`, `allowAndName` and `default` become `allowAndName` into `downloadDir`: Chrome names each file by
 *   its download GUID, so two downloads of one name never overwrite each other before the sidecar renames the
 *   completed one (names.ts); the client's path is never used, since it names a folder on another machine.
 * - Events are always on towards Chrome.
 * Parameters that are not a valid command (not an object, an unknown behaviour, a non-string context) are
 * returned as undefined: the proxy forwards them untouched and Chrome answers the client with its own error.
 */
export function sessionDownloadBehavior(
  client: unknown,
  downloadDir: string,
): SessionDownloadBehavior | undefined {
  if (typeof client !== 'object' || client === null || Array.isArray(client)) return undefined;
  const c = client as Record<string, unknown>;
  const behavior = c['behavior'];
  if (typeof behavior !== 'string' || !(DOWNLOAD_BEHAVIORS as readonly string[]).includes(behavior))
    return undefined;
  const context = c['browserContextId'];
  if (context !== undefined && typeof context !== 'string') return undefined;
  const clientWantsEvents = c['eventsEnabled'] === true;
  const scoped = context === undefined ? {} : { browserContextId: context };
  if (behavior === 'deny')
    return { params: { behavior: 'deny', ...scoped, eventsEnabled: true }, clientWantsEvents };
  return {
    params: { behavior: 'allowAndName', ...scoped, downloadPath: downloadDir, eventsEnabled: true },
    clientWantsEvents,
  };
}
