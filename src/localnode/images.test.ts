import { describe, expect, it } from 'vitest';
import { containerArgv, DEFAULT_IMAGE_RULES, imageRepository, mergeImageRules } from './images.js';

const vars = { node: '/usr/bin/node', checkout: '/src/bf' };

describe('imageRepository', () => {
  it.each([
    ['browserfleet/chrome', 'browserfleet/chrome'],
    ['browserfleet/chrome:dev', 'browserfleet/chrome'],
    ['ghcr.io/acme/browserfleet/chrome:1.2', 'ghcr.io/acme/browserfleet/chrome'],
    ['registry:5000/browserfleet/chrome', 'registry:5000/browserfleet/chrome'],
    ['registry:5000/browserfleet/chrome:v1@sha256:abc', 'registry:5000/browserfleet/chrome'],
  ])('%s → %s', (image, repo) => {
    expect(imageRepository(image)).toBe(repo);
  });
});

describe('containerArgv', () => {
  it('runs Chromium for the chrome image with the container args after the entrypoint', () => {
    const r = containerArgv(
      { name: 'chrome', image: 'ghcr.io/x/browserfleet/chrome:dev', args: ['--headless', 'about:blank'] },
      DEFAULT_IMAGE_RULES,
      vars,
    );
    expect(r).toMatchObject({ ok: true, argv: ['/usr/lib/chromium/chromium', '--headless', 'about:blank'] });
  });

  it('runs this checkout for the browserfleet image', () => {
    const r = containerArgv(
      { name: 's', image: 'browserfleet/browserfleet:dev', args: ['sidecar'] },
      DEFAULT_IMAGE_RULES,
      vars,
    );
    expect(r).toMatchObject({ ok: true, argv: ['/usr/bin/node', '/src/bf/dist/main.js', 'sidecar'] });
  });

  it('lets command replace the entrypoint, as with a real image', () => {
    const r = containerArgv(
      { name: 'c', image: 'browserfleet/chrome', command: ['/bin/echo'], args: ['hi'] },
      DEFAULT_IMAGE_RULES,
      vars,
    );
    expect(r).toMatchObject({ ok: true, argv: ['/bin/echo', 'hi'] });
  });

  it('runs the shell image argument as a script', () => {
    const r = containerArgv(
      { name: 'c', image: 'localnode/shell', args: ['exit 3'] },
      DEFAULT_IMAGE_RULES,
      vars,
    );
    expect(r).toMatchObject({ ok: true, argv: ['/bin/sh', '-c', 'exit 3'] });
  });

  it('uses the CMD only when neither command nor args are given', () => {
    const rules = mergeImageRules([{ repository: 'x/y', entrypoint: ['/bin/x'], cmd: ['--default'] }]);
    expect(containerArgv({ name: 'c', image: 'x/y' }, rules, vars)).toMatchObject({
      argv: ['/bin/x', '--default'],
    });
    expect(containerArgv({ name: 'c', image: 'x/y', args: ['a'] }, rules, vars)).toMatchObject({
      argv: ['/bin/x', 'a'],
    });
    expect(containerArgv({ name: 'c', image: 'x/y', command: ['/bin/z'] }, rules, vars)).toMatchObject({
      argv: ['/bin/z'],
    });
  });

  it('lets configured rules replace a default', () => {
    const rules = mergeImageRules([{ repository: 'browserfleet/chrome', entrypoint: ['/opt/chrome'] }]);
    expect(rules.filter((r) => r.repository === 'browserfleet/chrome')).toHaveLength(1);
    expect(containerArgv({ name: 'c', image: 'browserfleet/chrome' }, rules, vars)).toMatchObject({
      argv: ['/opt/chrome'],
    });
  });

  it('reports an unmapped image like an image that cannot be pulled', () => {
    const r = containerArgv({ name: 'c', image: 'docker.io/library/nginx:1.27' }, DEFAULT_IMAGE_RULES, vars);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('ErrImagePull');
    expect(r.message).toContain('docker.io/library/nginx');
    expect(r.message).toContain('browserfleet/chrome');
  });

  it('does not match a repository that merely ends in the same letters', () => {
    const r = containerArgv({ name: 'c', image: 'evil-browserfleet/chrome' }, DEFAULT_IMAGE_RULES, vars);
    expect(r.ok).toBe(false);
  });

  it('refuses an empty image name', () => {
    expect(containerArgv({ name: 'c', image: '' }, DEFAULT_IMAGE_RULES, vars)).toMatchObject({
      ok: false,
      reason: 'InvalidImageName',
    });
  });
});
