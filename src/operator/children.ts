import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Pod, V1Service } from '@kubernetes/client-node';
import {
  API_VERSION,
  BROWSER_UPLOAD_PATHS,
  type BrowserSession,
  CDP_PORT,
  CHROME_DEBUG_PORT,
  LABEL_MANAGED_BY,
  LABEL_PROJECT,
  LABEL_SESSION,
  MANAGED_BY,
  projectOf,
  SIDECAR_METRICS_PORT,
  WEBDRIVER_PORT,
} from '../api/index.js';
import type { OperatorConfig } from './config.js';

const MAX_NAME = 63;
/** The browser pod's chromedriver container (ADR 0014). */
export const WEBDRIVER_CONTAINER = 'webdriver';
/** The session's download folder, one emptyDir shared by the Chrome and sidecar containers. */
const DOWNLOAD_DIR = '/var/run/browserfleet/downloads';
const UPLOAD_DIR = '/var/run/browserfleet/uploads';

/** `browser-<session>`; past 63 characters the tail is replaced by a hash so names stay unique and stable. */
export function childName(sessionName: string): string {
  const name = `browser-${sessionName}`;
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(sessionName).digest('hex').slice(0, 10);
  return `${name.slice(0, MAX_NAME - 11).replace(/-+$/, '')}-${hash}`;
}

export function childLabels(s: BrowserSession): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    // Label values are capped at 63 characters like names; the session name may be longer (up to 253).
    [LABEL_SESSION]: labelValue(s.metadata.name ?? ''),
    [LABEL_PROJECT]: labelValue(projectOf(s)),
  };
}

function labelValue(v: string): string {
  if (v.length <= MAX_NAME) return v;
  return `${v.slice(0, 52).replace(/[-_.]+$/, '')}-${createHash('sha256').update(v).digest('hex').slice(0, 10)}`;
}

export function ownerRef(s: BrowserSession): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'BrowserSession',
    name: s.metadata.name ?? '',
    uid: s.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isControlledBy(
  obj: { metadata?: { ownerReferences?: V1OwnerReference[] } },
  s: BrowserSession,
) {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === s.metadata.uid);
}

export interface PodInputs {
  session: BrowserSession;
  config: OperatorConfig;
  token: string;
  timeoutSeconds: number;
  /** The project's cap on the session's downloads (maxDownloadBytes), in bytes; 0 for none. */
  downloadCapBytes: number;
}

/** The browser pod: Chrome on the pod's localhost only, and the sidecar as its one door. */
export function desiredPod({
  session: s,
  config: c,
  token,
  timeoutSeconds,
  downloadCapBytes,
}: PodInputs): V1Pod {
  const name = childName(s.metadata.name ?? '');
  const browser = s.spec.browser ?? {};
  const width = browser.width ?? 1920;
  const height = browser.height ?? 1080;
  const chromeArgs = [
    ...c.chrome.flags,
    '--remote-debugging-address=127.0.0.1',
    `--remote-debugging-port=${CHROME_DEBUG_PORT}`,
    '--user-data-dir=/tmp/chrome-profile',
    `--window-size=${width},${height}`,
    ...(browser.userAgent ? [`--user-agent=${browser.userAgent}`] : []),
    ...(browser.locale ? [`--lang=${browser.locale}`] : []),
    'about:blank',
  ];
  const nodeSelector = { ...c.nodeSelector, ...(s.spec.region ? { [c.regionLabel]: s.spec.region } : {}) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: s.metadata.namespace ?? '',
      labels: { ...c.podLabels, ...childLabels(s) },
      annotations: {
        // A running session must not be evicted to consolidate nodes: its client would lose its browser.
        'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
        'karpenter.sh/do-not-disrupt': 'true',
        ...c.podAnnotations,
      },
      ownerReferences: [ownerRef(s)],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // The kubelet's backstop for the hard timeout, in case the operator is down when the session expires.
      activeDeadlineSeconds: timeoutSeconds + c.podDeadlineSlackSeconds,
      terminationGracePeriodSeconds: 5,
      ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
      ...(c.tolerations.length > 0 ? { tolerations: c.tolerations as never } : {}),
      ...(c.priorityClassName ? { priorityClassName: c.priorityClassName } : {}),
      ...(Object.keys(c.affinity).length > 0 ? { affinity: c.affinity as never } : {}),
      ...(c.imagePullSecrets.length > 0
        ? { imagePullSecrets: c.imagePullSecrets.map((name) => ({ name })) }
        : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
      containers: [
        {
          name: 'chrome',
          image: c.chrome.image,
          args: chromeArgs,
          env: [
            { name: 'HOME', value: '/tmp' },
            ...(browser.timezone ? [{ name: 'TZ', value: browser.timezone }] : []),
          ],
          resources: c.chrome.resources,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: [
            { name: 'dshm', mountPath: '/dev/shm' },
            { name: 'tmp', mountPath: '/tmp' },
            // Chrome writes the session's downloads here; the sidecar keeps and serves them (ADR 0012).
            { name: 'downloads', mountPath: DOWNLOAD_DIR },
            // Uploads, read-only: a page cannot change what the client put there.
            { name: 'uploads', mountPath: BROWSER_UPLOAD_PATHS.browserbase, readOnly: true },
            { name: 'uploads', mountPath: BROWSER_UPLOAD_PATHS.hyperbrowser, readOnly: true },
          ],
        },
        {
          name: 'sidecar',
          image: c.sidecar.image,
          args: ['sidecar'],
          env: [
            { name: 'BF_LISTEN_PORT', value: String(CDP_PORT) },
            { name: 'BF_METRICS_PORT', value: String(SIDECAR_METRICS_PORT) },
            { name: 'BF_CHROME_URL', value: `http://127.0.0.1:${CHROME_DEBUG_PORT}` },
            { name: 'BF_SESSION_NAMESPACE', value: s.metadata.namespace ?? '' },
            { name: 'BF_SESSION_NAME', value: s.metadata.name ?? '' },
            { name: 'BF_SESSION_UID', value: s.metadata.uid ?? '' },
            { name: 'BF_SESSION_TOKEN', value: token },
            { name: 'BF_REPORT_URL', value: c.reportUrl },
            { name: 'BF_DOWNLOAD_DIR', value: DOWNLOAD_DIR },
            { name: 'BF_UPLOAD_DIR', value: UPLOAD_DIR },
            // Browserbase's browserSettings.logSession: false turns the CDP log off.
            { name: 'BF_CDP_LOG', value: s.spec.logSession === false ? 'off' : 'on' },
            { name: 'BF_DOWNLOAD_CAP_BYTES', value: String(downloadCapBytes) },
            { name: 'BF_WEBDRIVER_URL', value: `http://127.0.0.1:${WEBDRIVER_PORT}` },
            { name: 'BF_WEBDRIVER_IDLE_SECONDS', value: String(c.webdriver.idleSeconds) },
          ],
          volumeMounts: [
            { name: 'downloads', mountPath: DOWNLOAD_DIR },
            { name: 'uploads', mountPath: UPLOAD_DIR },
          ],
          ports: [
            { name: 'cdp', containerPort: CDP_PORT },
            { name: 'metrics', containerPort: SIDECAR_METRICS_PORT },
          ],
          readinessProbe: {
            httpGet: { path: '/healthz', port: SIDECAR_METRICS_PORT },
            periodSeconds: 1,
            // The sidecar asks Chrome within 2 s; the kubelet's default of 1 s would call a busy Chrome not ready.
            timeoutSeconds: 3,
            failureThreshold: 3,
          },
          resources: c.sidecar.resources,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
        {
          // Selenium's server for this session (ADR 0014). It binds the pod's localhost only and refuses a
          // foreign Host or Origin header, so neither the pod network nor a page can drive it; the sidecar can.
          name: WEBDRIVER_CONTAINER,
          image: c.chrome.image,
          command: ['/usr/bin/tini', '--', '/usr/bin/chromedriver'],
          args: [`--port=${WEBDRIVER_PORT}`, '--log-level=WARNING'],
          env: [{ name: 'HOME', value: '/tmp' }],
          resources: c.webdriver.resources,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
      volumes: [
        { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: c.chrome.shmSize } },
        { name: 'tmp', emptyDir: {} },
        { name: 'downloads', emptyDir: {} },
        { name: 'uploads', emptyDir: {} },
      ],
    },
  };
}

/**
 * The Service names the session's sidecar CDP port (`<session>.<namespace>.svc`); Chrome's own port is never
 * exposed. Headless: its DNS name resolves straight to the pod, which is all a one-pod Service needs, and it
 * takes no cluster IP and no kube-proxy rules, which at thousands of sessions per cluster is what a ClusterIP
 * would cost most (IPAddress objects, proxy rule syncs on every node).
 */
export function desiredService(s: BrowserSession): V1Service {
  const labels = childLabels(s);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: childName(s.metadata.name ?? ''),
      namespace: s.metadata.namespace ?? '',
      labels,
      ownerReferences: [ownerRef(s)],
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: { [LABEL_SESSION]: labels[LABEL_SESSION] ?? '' },
      ports: [{ name: 'cdp', port: CDP_PORT, targetPort: 'cdp' as never, protocol: 'TCP' }],
    },
  };
}

export function connectUrl(s: BrowserSession, c: OperatorConfig, podIP: string, token: string): string {
  const host =
    c.connectUrlHost === 'service'
      ? `${childName(s.metadata.name ?? '')}.${s.metadata.namespace}.svc`
      : podIP;
  return `ws://${host}:${CDP_PORT}/devtools/browser?token=${encodeURIComponent(token)}`;
}
