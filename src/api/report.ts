import { z } from 'zod';

const name = z.string().min(1, 'must be a non-empty string');
const count = z.number().int().min(0, 'must be a non-negative integer');
const time = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 time')
  .transform((v) => new Date(v).toISOString())
  .nullish()
  .transform((v) => v ?? undefined)
  .optional();

/**
 * The connection report a sidecar sends to the operator (docs/adr/0001-connection-reports.md): level state,
 * never deltas, so a lost or repeated report does no harm. Sent by src/sidecar/reporter.ts, read by
 * src/operator/report-server.ts. Unknown fields are dropped, not refused: during a rolling upgrade a newer
 * sidecar may report to an older operator.
 */
export const connectionReportSchema = z.object({
  namespace: name,
  name: name,
  uid: name,
  /** Random per sidecar process; `seq` only orders reports of one boot. */
  bootId: name,
  seq: count,
  /** Open clients: CDP websockets (browser- and page-level) and the active WebDriver session. */
  connections: count,
  /** Of those, WebDriver sessions (0 or 1); absent from sidecars that predate WebDriver. */
  webdriverConnections: count.default(0),
  /** Open page targets in Chrome. */
  pages: count,
  /** Sticky: a client connected with `keepAlive=true`. */
  keepAliveRequested: z.boolean().default(false),
  lastConnectedAt: time,
  lastDisconnectedAt: time,
  /** Absent from sidecars that predate the field, which only reported while Chrome answered. */
  chromeReachable: z.boolean().default(true),
  /** Bumped when the session has a new artifact to keep (ADR 0012); absent from older sidecars. */
  artifactsGeneration: count.default(0),
});

export type ConnectionReport = z.output<typeof connectionReportSchema>;

export class ReportFormatError extends Error {}

/** Checks a report body; the error names every bad field (`seq: must be a non-negative integer`). */
export function parseConnectionReport(body: unknown): ConnectionReport {
  const result = connectionReportSchema.safeParse(body);
  if (result.success) return result.data;
  throw new ReportFormatError(
    result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`).join('; '),
  );
}
