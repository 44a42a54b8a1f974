import { MAX_NAME_BYTES } from '../../shared/artifacts/keys.js';

/**
 * The name a completed download is stored under, as Browserbase documents it: the Unix time in milliseconds
 * before the extension (`report.pdf` → `report-1719265797164.pdf`; the extension is the last dot's short alphanumeric
 * tail, so `a.tar.gz` → `a.tar-<ms>.gz`), so two downloads of one name never collide. The suggested name is the page's (from
 * Content-Disposition or the `download` attribute), so it is made safe first: no path separators or control
 * characters, never empty or a dot name, and short enough for the store with the suffix. Pure.
 */
export function timestampedName(suggested: string, completedAtMs: number): string {
  const suffix = `-${Math.trunc(completedAtMs)}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced.
  let safe = suggested.replace(/[/\\\u0000-\u001f\u007f]/g, '_').trim();
  if (safe === '' || /^\.+$/.test(safe)) safe = 'download';
  const dot = safe.lastIndexOf('.');
  // An extension is a short alphanumeric tail; a leading dot is a hidden file's name, not an extension.
  const ext = dot > 0 && /^\.[A-Za-z0-9]{1,16}$/.test(safe.slice(dot)) ? safe.slice(dot) : '';
  let stem = ext ? safe.slice(0, dot) : safe;
  const budget = MAX_NAME_BYTES - Buffer.byteLength(suffix);
  while (Buffer.byteLength(stem) + Buffer.byteLength(ext) > budget) stem = dropLastCodePoint(stem);
  return `${stem || 'download'}${suffix}${ext}`;
}

function dropLastCodePoint(s: string): string {
  return Array.from(s).slice(0, -1).join('');
}
