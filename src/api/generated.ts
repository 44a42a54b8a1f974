// Generated from crds/*.yaml by `make manifests` (src/api/codegen.ts). Do not edit by hand.

export const browserProjectApiVersion = 'browserfleet.dev/v1alpha1';

export interface BrowserProjectSpec {
  /** The namespace this project's sessions run in. */
  namespace: string;
  /** Most sessions starting or running at once. */
  concurrency: number;
  /** Most sessions that may wait for room; 0 means no queue (past concurrency is refused). */
  maxQueued?: number;
  /** Timeout in seconds for sessions that do not set one. */
  defaultTimeout?: number;
  /** Largest timeout in seconds a session may ask for. */
  maxTimeout?: number;
  /** How long finished sessions are kept, unless a session sets its own. */
  ttlSecondsAfterFinished?: number;
  /** The most a session's downloads may hold together, in bytes, taken when the session starts; past it further downloads are cancelled and status.artifacts says so (DownloadCapReached). 0 means no cap beyond the pod's own disk. */
  maxDownloadBytes?: number;
  /** How long a session's artifacts (downloads, CDP log) are kept after it ended even when its BrowserSession is deleted sooner (by ttlSecondsAfterFinished or by hand); the operator deletes them once this has passed. Unset: they go with the BrowserSession. */
  artifactRetentionSeconds?: number;
  /** Session creates per minute accepted by the gateway; 0 means unlimited. */
  createsPerMinute?: number;
  /** Secrets in the project's namespace holding API keys for the gateway. Each key is a value under `key` (default `apiKey`); values are compared in constant time and never logged. */
  apiKeySecrets?: Array<{
    /** Secret name. */
    name: string;
    /** Data key in the Secret. */
    key?: string;
  }>;
}

/** Counts derived from the project's sessions by the operator. */
export interface BrowserProjectStatus {
  /** The spec generation seen. */
  observedGeneration?: number;
  /** Sessions Running. */
  running?: number;
  /** Sessions admitted and starting. */
  starting?: number;
  /** Sessions waiting for room. */
  queued?: number;
}

export interface BrowserProject {
  apiVersion: 'browserfleet.dev/v1alpha1';
  kind: 'BrowserProject';
  metadata: import('@kubernetes/client-node').V1ObjectMeta;
  spec: BrowserProjectSpec;
  status?: BrowserProjectStatus;
}

export const browserSessionApiVersion = 'browserfleet.dev/v1alpha1';

/** What the session was asked for. Everything but `release` is immutable. */
export interface BrowserSessionSpec {
  /** The BrowserProject that owns this session and whose concurrency quota it uses. */
  project?: string;
  /** Hard lifetime in seconds, counted from admission. Defaults to the project's defaultTimeout and may not exceed its maxTimeout. */
  timeout?: number;
  /** Keep the session running when its last CDP client disconnects; it then ends on release or timeout. */
  keepAlive?: boolean;
  /** Free JSON object for the caller (at most 512 characters serialized; the operator fails a session whose metadata is larger, because CEL cannot measure serialized JSON). */
  userMetadata?: Record<string, unknown>;
  /** Browser settings. */
  browser?: {
    /** Screen and default viewport width in pixels. */
    width?: number;
    /** Screen and default viewport height in pixels. */
    height?: number;
    /** User-Agent string to send instead of Chrome's own. */
    userAgent?: string;
    /** Browser UI and Accept-Language locale, such as en-US. */
    locale?: string;
    /** IANA time zone for the browser, such as Europe/Berlin. */
    timezone?: string;
  };
  /** Where the session should run; becomes a node selector on the operator's topology label (topology.kubernetes.io/region by default). */
  region?: string;
  /** Set to true to end the session now (false to true only). */
  release?: boolean;
  /** How long the finished BrowserSession is kept before it is deleted. Defaults to the project's setting (one hour). */
  ttlSecondsAfterFinished?: number;
  /** Keep what the browser downloads in the installation's artifact store (when it keeps artifacts). Unset means yes, as on Browserbase; Hyperbrowser's saveDownloads sets it (false by default there). */
  saveDownloads?: boolean;
  /** Record the session's CDP log (each command its clients send and Chrome's answer; bounded, our credentials redacted) and keep it with its artifacts. Unset means yes, as on Browserbase (browserSettings.logSession). */
  logSession?: boolean;
}

/** What the session is. Written by the operator, except the connection facts. */
export interface BrowserSessionStatus {
  /** Summary of the conditions, for humans and the SDK status strings. */
  phase?: 'Pending' | 'Queued' | 'Starting' | 'Running' | 'Completed' | 'TimedOut' | 'Failed';
  /** The spec generation this status describes. */
  observedGeneration?: number;
  /** Ready, Admitted and Ended, with reason, message and observedGeneration. */
  conditions?: Array<{
    /** Condition type. */
    type: string;
    /** Condition status. */
    status: 'True' | 'False' | 'Unknown';
    /** Machine-readable CamelCase reason. */
    reason?: string;
    /** Human-readable detail. */
    message?: string;
    /** Generation observed. */
    observedGeneration?: number;
    /** When status last changed. */
    lastTransitionTime?: string;
  }>;
  /** Name of the session's browser pod. */
  podName?: string;
  /** Name of the session's Service. */
  serviceName?: string;
  /** Address of the browser pod. */
  podIP?: string;
  /** In-cluster CDP URL through the sidecar, credential included. */
  connectUrl?: string;
  /** The effective timeout (spec.timeout or the project's default). */
  timeoutSeconds?: number;
  /** 1-based place in the project's queue while Queued. */
  queuePosition?: number;
  /** The resourceVersion the operator first saw; orders sessions created within the same second, so the queue stays first-in first-out across operator restarts. */
  creationRevision?: string;
  /** When the session was admitted. */
  startedAt?: string;
  /** When the browser became ready. */
  readyAt?: string;
  /** When the session times out. */
  expiresAt?: string;
  /** When the session ended. */
  endedAt?: string;
  /** Why the session ended. */
  endReason?: 'Released' | 'Disconnected' | 'Expired' | 'NeverConnected' | 'PodFailed' | 'PodLost' | 'NodeLost' | 'PodRejected' | 'ServiceRejected' | 'Deleted' | 'QuotaExceeded' | 'InvalidSpec' | 'ProjectNotFound';
  /** Milliseconds from admission to the browser being ready. */
  startupLatencyMs?: number;
  /** Open client connections (reported by the sidecar): CDP websockets and the active WebDriver session. */
  connections?: number;
  /** Of the open connections, WebDriver sessions: 1 from a Selenium client's new session until its quit() or its idle limit, else 0 (reported by the sidecar). */
  webdriverConnections?: number;
  /** Open pages in the browser (reported by the sidecar). */
  pages?: number;
  /** A client connected with keepAlive=true (reported by the sidecar). */
  keepAliveRequested?: boolean;
  /** Chrome answers the sidecar (reported by the sidecar). A starting session is Running as soon as this is true and its pod's containers run, without waiting for the pod's readiness probe. */
  chromeReachable?: boolean;
  /** Last CDP client connect. */
  lastConnectedAt?: string;
  /** Last CDP client disconnect. */
  lastDisconnectedAt?: string;
  /** Identity of the sidecar run that sent the last report. */
  reportBootId?: string;
  /** Sequence number of the last report. */
  reportSeq?: number;
  /** Bumped by the sidecar whenever the session has a new artifact to keep (a download completed); the operator's collector copies up to it (reported by the sidecar). */
  artifactsGeneration?: number;
  /** What the operator kept of the session's artifacts in the object store, or why not (written only by the collector, and only when the installation keeps artifacts). */
  artifacts?: {
    /** Collecting while the session runs (the counts say what is stored so far); at the end Stored (everything), Incomplete (something was not stored: the reason and message say what) or Failed (the object store refused or did not answer). */
    state: 'Collecting' | 'Stored' | 'Incomplete' | 'Failed';
    /** Why it is Incomplete or Failed: DownloadsCutOff, DownloadCapReached, FlushTimeout, PodGone, SidecarUnreachable, CopyFailed, or the store's Unreachable, AccessDenied, NoSuchBucket, Failed. */
    reason?: string;
    /** The detail: what was not stored, and why. */
    message?: string;
    /** The sidecar's artifactsGeneration that the collector last copied up to. */
    generation?: number;
    /** The end's flush has been done (or given up); the pod may go. */
    flushed?: boolean;
    /** When the collector last wrote this. */
    updatedAt?: string;
    /** The session's downloads. */
    downloads?: {
      /** Complete files in the store. */
      stored?: number;
      /** Their bytes. */
      bytes?: number;
      /** Cut off by the session's end (or lost before they could be stored); not stored. */
      partial?: number;
      /** Cancelled by Chrome or the page; not stored. */
      cancelled?: number;
    };
    /** The session's CDP log, stored once, at the end. */
    logs?: {
      /** The log is in the store. */
      stored?: boolean;
      /** Commands in the stored log. */
      entries?: number;
      /** The log's size in the store. */
      bytes?: number;
      /** Oldest commands dropped to keep the log within its bound (a marker entry says so too). */
      dropped?: number;
    };
  };
}

export interface BrowserSession {
  apiVersion: 'browserfleet.dev/v1alpha1';
  kind: 'BrowserSession';
  metadata: import('@kubernetes/client-node').V1ObjectMeta;
  spec: BrowserSessionSpec;
  status?: BrowserSessionStatus;
}

/**
 * The schemas' `default:` values, by kind and field path (`items` for each element of a list). The API
 * server fills them in, so objects read from it have them; code falls back to these, never to its own copy,
 * for objects built in memory.
 */
export const DEFAULTS = {
  BrowserProject: {
    spec: {
      maxQueued: 0,
      defaultTimeout: 300,
      maxTimeout: 21600,
      ttlSecondsAfterFinished: 3600,
      maxDownloadBytes: 1073741824,
      createsPerMinute: 0,
      apiKeySecrets: {
        items: {
          key: 'apiKey',
        },
      },
    },
  },
  BrowserSession: {
    spec: {
      project: 'default',
      keepAlive: false,
      release: false,
    },
  },
} as const;
