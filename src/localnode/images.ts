/**
 * localnode has no container runtime, so an "image" is a name for a local program. The table maps an image
 * repository to what its ENTRYPOINT (and CMD) would be; a container's `command` and `args` then combine with
 * it exactly as they do with a real image: `command` replaces the entrypoint, `args` replace the CMD.
 */

export interface ImageRule {
  /** Matches an image whose repository is this or ends in `/` + this; registry, tag and digest are ignored. */
  repository: string;
  /** The image's ENTRYPOINT. `{node}` is this Node.js binary, `{checkout}` the configured checkout directory. */
  entrypoint: string[];
  /** The image's CMD: arguments used when the container sets neither `command` nor `args`. */
  cmd?: string[];
}

export const DEFAULT_IMAGE_RULES: readonly ImageRule[] = [
  { repository: 'browserfleet/chrome', entrypoint: ['/usr/lib/chromium/chromium'] },
  { repository: 'browserfleet/browserfleet', entrypoint: ['{node}', '{checkout}/dist/main.js'] },
  { repository: 'localnode/shell', entrypoint: ['/bin/sh', '-c'] },
];

/** Configured rules come first, so they can replace a default for the same repository. */
export function mergeImageRules(configured: readonly ImageRule[]): ImageRule[] {
  const seen = new Set(configured.map((r) => r.repository));
  return [...configured, ...DEFAULT_IMAGE_RULES.filter((r) => !seen.has(r.repository))];
}

/** The repository part of an image reference: no digest, no tag (a registry port is not a tag). */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0] as string;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

export function findImageRule(image: string, rules: readonly ImageRule[]): ImageRule | undefined {
  const repo = imageRepository(image);
  return rules.find((r) => repo === r.repository || repo.endsWith(`/${r.repository}`));
}

export interface ImageVars {
  node: string;
  checkout: string;
}

export type ContainerArgv =
  | { ok: true; argv: string[]; rule: ImageRule }
  | { ok: false; reason: 'ErrImagePull' | 'InvalidImageName' | 'CreateContainerError'; message: string };

/**
 * The argv a container runs, given its (already $(VAR)-expanded) command and args. An image without a rule is
 * reported like an image that cannot be pulled, because on this machine it never can be.
 */
export function containerArgv(
  container: {
    name: string;
    image?: string | undefined;
    command?: string[] | undefined;
    args?: string[] | undefined;
  },
  rules: readonly ImageRule[],
  vars: ImageVars,
): ContainerArgv {
  const image = container.image?.trim() ?? '';
  if (image === '' || /\s/.test(image)) {
    return {
      ok: false,
      reason: 'InvalidImageName',
      message: `container "${container.name}": invalid image name "${image}"`,
    };
  }
  const rule = findImageRule(image, rules);
  if (!rule) {
    const known = rules.map((r) => r.repository).join(', ');
    return {
      ok: false,
      reason: 'ErrImagePull',
      message: `image "${image}" is not available on this localnode: no local program is mapped to repository "${imageRepository(image)}" (mapped: ${known})`,
    };
  }
  const fill = (s: string): string =>
    s.replaceAll('{node}', vars.node).replaceAll('{checkout}', vars.checkout);
  const argv =
    container.command && container.command.length > 0
      ? [...container.command, ...(container.args ?? [])]
      : [
          ...rule.entrypoint.map(fill),
          ...(container.args && container.args.length > 0 ? container.args : (rule.cmd ?? [])),
        ];
  if (argv.length === 0 || argv[0] === '') {
    return {
      ok: false,
      reason: 'CreateContainerError',
      message: `container "${container.name}": no command specified`,
    };
  }
  return { ok: true, argv, rule };
}
