import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type KubeClient, paths } from '../shared/kube/client.js';
import { testClient, uniqueName } from '../testing/cluster.js';
import { SUITE_NODE, SUITE_STATE_DIR } from '../testing/vitest-global-setup.js';
import { waitFor } from '../testing/wait.js';

/*
 * What a pod that talks to the cluster needs from its node, on the suite's node agent (serviceProxy on): its
 * service-account token where client libraries look, the API server at KUBERNETES_SERVICE_HOST, Services at
 * their cluster IPs and by their DNS names, and nothing resolved beyond the cluster.
 */

const namespace = uniqueName('ln-svc');
let client: KubeClient;

const web = (): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace, labels: { app: 'web' } },
  spec: {
    nodeSelector: { 'kubernetes.io/hostname': SUITE_NODE },
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'web',
        image: 'localnode/shell',
        args: [
          `exec node -e 'require("http").createServer((q, s) => s.end("hello from web")).listen(8080, process.env.POD_IP)'`,
        ],
        env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { tcpSocket: { port: 8080 as never }, periodSeconds: 1 },
      },
    ],
  },
});

const service = (): V1Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' as never }] },
});

/** A client in a pod: the API with its own token, then the Service by its short name, then a name outside. */
const probeScript = `
const fs = require('fs'), https = require('https'), http = require('http'), dns = require('dns');
const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
const get = (mod, opts) => new Promise((resolve) => {
  mod.get(opts, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => resolve(r.statusCode + ' ' + b)); })
    .on('error', (e) => resolve('error ' + e.message));
});
(async () => {
  const ns = fs.readFileSync(sa + '/namespace', 'utf8');
  const api = await get(https, {
    host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
    path: '/api/v1/namespaces/' + ns + '/secrets', ca: fs.readFileSync(sa + '/ca.crt'),
    headers: { authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8') },
  });
  console.log('api ' + JSON.stringify(api));
  console.log('web ' + (await get(http, 'http://web/')));
  console.log('fqdn ' + (await get(http, 'http://web.' + ns + '.svc.cluster.local/')));
  const outside = await new Promise((r) => dns.lookup('example.com', (e) => r(e ? e.code : 'resolved')));
  console.log('outside ' + outside);
})();
`;

const probe = (): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'probe', namespace },
  spec: {
    nodeSelector: { 'kubernetes.io/hostname': SUITE_NODE },
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'probe',
        image: 'localnode/shell',
        args: [`exec node -e "${probeScript.replaceAll('"', '\\"')}"`],
      },
    ],
  },
});

/** The container's log, from the node agent's log directory (it serves no kubelet API for `kubectl logs`). */
function logOf(pod: string): Promise<string> {
  return readFile(join(SUITE_STATE_DIR, SUITE_NODE, 'logs', `${namespace}_${pod}_${pod}.log`), 'utf8');
}

describe.skipIf(!inject('localControlPlane') || inject('podNetworkHostIP') === '')(
  'cluster services on the node agent',
  () => {
    beforeAll(async () => {
      client = await testClient();
      await client.create(paths.namespaces(), {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: namespace },
      });
      // The ServiceAccount admission plugin needs the namespace's default account before any pod.
      await waitFor('the default ServiceAccount', async () =>
        client.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`).then(
          () => true,
          () => false,
        ),
      );
    });

    afterAll(async () => {
      await client.delete(`${paths.namespaces()}/${namespace}`).catch(() => undefined);
      client.close();
    });

    it('a pod reaches the API server with its own token, a Service by name, and nothing outside', async () => {
      await client.create(paths.pods(namespace), web());
      const svc = await client.create<V1Service>(paths.services(namespace), service());
      await waitFor('web Ready', async () => {
        const p = await client.get<V1Pod>(paths.pod(namespace, 'web'));
        return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      });
      // The host reaches the Service at its cluster IP too (as a process on a node would).
      const clusterIP = svc.spec?.clusterIP ?? '';
      const fromHost = await waitFor('the Service from the host', async () =>
        fetch(`http://${clusterIP}/`).then(
          async (r) => (r.ok ? await r.text() : undefined),
          () => undefined,
        ),
      );
      expect(fromHost).toBe('hello from web');

      const created = await client.create<V1Pod>(paths.pods(namespace), probe());
      // The ServiceAccount admission plugin gave it the projected token volume the node agent must fill.
      expect(
        created.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken)),
      ).toBe(true);
      await waitFor('the probe to finish', async () => {
        const p = await client.get<V1Pod>(paths.pod(namespace, 'probe'));
        return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
      });
      const lines = (await logOf('probe')).trim().split('\n');
      // Authenticated as the pod's ServiceAccount, which may not read Secrets: 403, and the API says who asked.
      expect(lines[0]).toMatch(/^api "403 .*system:serviceaccount:ln-svc-[0-9a-f]+:default/);
      expect(lines.slice(1)).toEqual([
        'web 200 hello from web',
        'fqdn 200 hello from web',
        'outside ENOTFOUND',
      ]);
    });
  },
);
