/**
 * Where a session's artifacts live in the bucket: `<prefix>projects/<project>/sessions/<session>/<kind>/<name>`.
 * One prefix per session, so listing, zipping and deleting a session's artifacts are prefix operations, and one
 * per project above it, so a project's retention or removal is one too. Pure: no I/O.
 */

/** What a session keeps: files its browser downloaded, and its CDP log. */
export const ARTIFACT_KINDS = ['downloads', 'logs'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** The session's CDP log, under `logs/`: the operator stores it at the end, the gateway serves it. */
export const CDP_LOG_ARTIFACT = 'cdp-log.json';

/** The session an artifact belongs to, by its project and its BrowserSession name (the wire id). */
export interface SessionScope {
  project: string;
  session: string;
}

/** Project and session names are Kubernetes names (DNS subdomain rules), so they never hold `/`. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The longest artifact name, in UTF-8 bytes (the common file-name limit; S3 keys allow 1024 in all). */
export const MAX_NAME_BYTES = 255;

export class ArtifactKeyError extends Error {}

/**
 * Refuses an artifact name that could leave its session's prefix or confuse a reader: empty, `.` or `..`,
 * containing `/`, `\` or a control character, or longer than MAX_NAME_BYTES.
 */
export function checkArtifactName(name: string): string {
  if (name === '' || name === '.' || name === '..')
    throw new ArtifactKeyError(`artifact name ${JSON.stringify(name)} is not a file name`);
  if (/[/\\]/.test(name))
    throw new ArtifactKeyError(`artifact name ${JSON.stringify(name)} must not contain / or \\`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused.
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw new ArtifactKeyError(`artifact name ${JSON.stringify(name)} must not contain control characters`);
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES)
    throw new ArtifactKeyError(`artifact name is longer than ${MAX_NAME_BYTES} bytes`);
  return name;
}

function checkScope(scope: SessionScope): void {
  for (const [field, value] of [
    ['project', scope.project],
    ['session', scope.session],
  ] as const) {
    if (!NAME.test(value))
      throw new ArtifactKeyError(`${field} ${JSON.stringify(value)} is not a Kubernetes object name`);
  }
}

/** `<prefix>projects/<project>/sessions/<session>/`, with a trailing slash so no session's prefix is another's. */
export function sessionPrefix(prefix: string, scope: SessionScope): string {
  checkScope(scope);
  return `${prefix}projects/${scope.project}/sessions/${scope.session}/`;
}

/** `<prefix>projects/<project>/`: every artifact of every session of a project. */
export function projectPrefix(prefix: string, project: string): string {
  checkScope({ project, session: 'x' });
  return `${prefix}projects/${project}/`;
}

export function artifactKey(prefix: string, scope: SessionScope, kind: ArtifactKind, name: string): string {
  return `${sessionPrefix(prefix, scope)}${kind}/${checkArtifactName(name)}`;
}

/** The kind and name of a key under a session's prefix, or undefined for a key that is not an artifact's. */
export function parseArtifactKey(
  sessionPrefixValue: string,
  key: string,
): { kind: ArtifactKind; name: string } | undefined {
  if (!key.startsWith(sessionPrefixValue)) return undefined;
  const rest = key.slice(sessionPrefixValue.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return undefined;
  const kind = rest.slice(0, slash);
  const name = rest.slice(slash + 1);
  if (!(ARTIFACT_KINDS as readonly string[]).includes(kind)) return undefined;
  try {
    checkArtifactName(name);
  } catch {
    return undefined;
  }
  return { kind: kind as ArtifactKind, name };
}
