import { describe, expect, it } from 'vitest';
import { checkArtifactName, MAX_NAME_BYTES } from '../../shared/artifacts/keys.js';
import { timestampedName } from './names.js';

const AT = 1719265797164;

describe('timestampedName', () => {
  it.each([
    ['sample.pdf', 'sample-1719265797164.pdf'],
    ['report', 'report-1719265797164'],
    ['a.tar.gz', 'a.tar-1719265797164.gz'],
    ['.env', '.env-1719265797164'],
    ['Übersicht 2026.xlsx', 'Übersicht 2026-1719265797164.xlsx'],
    ['../../etc/passwd', '.._.._etc_passwd-1719265797164'],
    ['a\\b.txt', 'a_b-1719265797164.txt'],
    ['new\nline.txt', 'new_line-1719265797164.txt'],
    ['', 'download-1719265797164'],
    ['..', 'download-1719265797164'],
    ['  ', 'download-1719265797164'],
  ])('%j → %j', (suggested, stored) => {
    expect(timestampedName(suggested, AT)).toBe(stored);
  });

  it('is always a name the store accepts, however long or odd the suggestion', () => {
    for (const suggested of [
      'x'.repeat(1000),
      `${'é'.repeat(300)}.pdf`,
      `a.${'e'.repeat(300)}`,
      '🙂'.repeat(200),
    ]) {
      const name = timestampedName(suggested, AT);
      expect(checkArtifactName(name)).toBe(name);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(name).toContain(`-${AT}`);
    }
    expect(timestampedName(`${'é'.repeat(300)}.pdf`, AT).endsWith(`-${AT}.pdf`)).toBe(true);
  });
});
