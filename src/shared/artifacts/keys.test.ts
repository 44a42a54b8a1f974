import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../testing/thrown.js';
import {
  ArtifactKeyError,
  artifactKey,
  checkArtifactName,
  MAX_NAME_BYTES,
  parseArtifactKey,
  projectPrefix,
  sessionPrefix,
} from './keys.js';

const scope = { project: 'default', session: '0b7e2c9e-6d1f-4d8e-9a54-3c0f1f6b2a11' };

describe('artifact keys', () => {
  it('puts each session under its project, with a trailing slash so no session prefix is another one', () => {
    expect(sessionPrefix('', scope)).toBe(`projects/default/sessions/${scope.session}/`);
    expect(sessionPrefix('team-a/', scope)).toBe(`team-a/projects/default/sessions/${scope.session}/`);
    expect(artifactKey('', scope, 'downloads', 'report (1).pdf')).toBe(
      `projects/default/sessions/${scope.session}/downloads/report (1).pdf`,
    );
    expect(projectPrefix('', 'default')).toBe('projects/default/');
    const a = sessionPrefix('', { project: 'p', session: 's1' });
    const b = sessionPrefix('', { project: 'p', session: 's10' });
    expect(b.startsWith(a)).toBe(false);
  });

  it.each([
    ['', 'is not a file name'],
    ['.', 'is not a file name'],
    ['..', 'is not a file name'],
    ['../../etc/passwd', 'must not contain /'],
    ['a/b', 'must not contain /'],
    ['a\\b', 'must not contain /'],
    ['a\nb', 'control characters'],
    ['a\u0000', 'control characters'],
    ['é'.repeat(128), `longer than ${MAX_NAME_BYTES} bytes`],
  ])('refuses the name %j', (name, message) => {
    expect(thrownBy(() => checkArtifactName(name), ArtifactKeyError).message).toContain(message);
    expect(() => artifactKey('', scope, 'downloads', name)).toThrow(ArtifactKeyError);
  });

  it('accepts names up to the limit, spaces and unicode included', () => {
    expect(checkArtifactName('a'.repeat(MAX_NAME_BYTES))).toHaveLength(MAX_NAME_BYTES);
    expect(checkArtifactName('Übersicht 2026 … v2.tar.gz')).toBe('Übersicht 2026 … v2.tar.gz');
    expect(checkArtifactName('..hidden')).toBe('..hidden');
  });

  it.each([
    [{ project: 'Default', session: 's' }, 'project "Default"'],
    [{ project: 'p', session: '../s' }, 'session "../s"'],
    [{ project: 'p/q', session: 's' }, 'project "p/q"'],
    [{ project: 'p', session: '' }, 'session ""'],
  ])('refuses a scope that is not two Kubernetes names: %j', (bad, message) => {
    expect(thrownBy(() => sessionPrefix('', bad), ArtifactKeyError).message).toContain(message);
  });

  it('reads a key back into kind and name, and nothing that is not an artifact of that session', () => {
    const base = sessionPrefix('', scope);
    expect(parseArtifactKey(base, artifactKey('', scope, 'logs', 'cdp-000001.jsonl'))).toEqual({
      kind: 'logs',
      name: 'cdp-000001.jsonl',
    });
    expect(parseArtifactKey(base, `${base}other/x`)).toBeUndefined();
    expect(parseArtifactKey(base, `${base}downloads/a/b`)).toBeUndefined();
    expect(parseArtifactKey(base, `${base}downloads`)).toBeUndefined();
    expect(parseArtifactKey(base, 'projects/default/sessions/another/downloads/x')).toBeUndefined();
  });
});
