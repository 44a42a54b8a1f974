import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  /**
   * The apiserver's identity towards kubelets (logs, exec, port-forward): a kubelet trusts the cluster CA for
   * clients and asks the apiserver (webhook authorization) whether this user may; system:masters may.
   */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

/**
 * A throw-away CA that signs the apiserver's serving cert and every client cert, plus the SA signing key.
 * `kubernetesServiceIP`: the first address of the service range, which in-cluster clients dial by IP.
 */
export async function createPki(
  dir: string,
  kubernetesServiceIP = '10.96.0.1',
  advertiseAddress?: string,
): Promise<Pki> {
  const p = (f: string) => path.join(dir, f);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-days',
      '30',
      '-subj',
      '/CN=browserfleet-local-ca',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  await writeFile(
    p('server.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=IP:127.0.0.1,IP:${kubernetesServiceIP},${advertiseAddress ? `IP:${advertiseAddress},` : ''}DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc`,
      '',
    ].join('\n'),
  );
  await signed('server', '/CN=kube-apiserver', 'server.ext', dir);
  await openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  const kubeletClient = await createClientCert(dir, 'kubelet-client', 'kube-apiserver-kubelet-client', [
    'system:masters',
  ]);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    kubeletClientCert: kubeletClient.cert,
    kubeletClientKey: kubeletClient.key,
  };
}

async function signed(name: string, subject: string, extFile: string, dir: string): Promise<void> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      extFile,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/** A client certificate: CN is the user, O the groups (how the apiserver's x509 authenticator reads them). */
export async function createClientCert(
  dir: string,
  name: string,
  user: string,
  groups: string[],
): Promise<{ cert: string; key: string }> {
  await writeFile(
    path.join(dir, 'client.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const subject = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  await signed(name, subject, 'client.ext', dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}
