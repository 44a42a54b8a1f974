/**
 * Structured JSON lines on stderr: a fixed message plus key-values, so log pipelines can index fields instead of
 * parsing prose. Callers pass URLs through `redactToken` first; this module never sees credentials.
 */
type Fields = Record<string, unknown>;
type Level = 'info' | 'warn' | 'error';

function write(level: Level, fields: Fields, msg: string): void {
  if (process.env['BF_LOG_LEVEL'] === 'silent') return;
  const line = JSON.stringify({
    time: new Date().toISOString(),
    level,
    component: 'sidecar',
    msg,
    ...fields,
  });
  process.stderr.write(`${line}\n`);
}

export const log = {
  info: (fields: Fields, msg: string) => write('info', fields, msg),
  warn: (fields: Fields, msg: string) => write('warn', fields, msg),
  error: (fields: Fields, msg: string) => write('error', fields, msg),
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
