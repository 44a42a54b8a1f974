/**
 * The connection report a sidecar sends to the operator (docs/adr/0001-connection-reports.md): level state,
 * never deltas, so a lost or repeated report does no harm.
 */
export interface ConnectionReport {
  namespace: string;
  name: string;
  uid: string;
  /** Random per sidecar process; `seq` only orders reports of one boot. */
  bootId: string;
  seq: number;
  /** Open client websockets, browser- and page-level. */
  connections: number;
  /** Open page targets in Chrome. */
  pages: number;
  /** Sticky: a client connected with `keepAlive=true`. */
  keepAliveRequested: boolean;
  lastConnectedAt?: string;
  lastDisconnectedAt?: string;
  chromeReachable: boolean;
}
