import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3StoreConfig } from '../shared/artifacts/config.js';
import { freePorts } from './control-plane.js';
import { readText, reapStaleDirs } from './owned-processes.js';
import { tool } from './tools.js';

export interface ObjectStoreOptions {
  /**
   * The address the S3 API (and SeaweedFS's own servers) listen on and advertise (default 127.0.0.1); a host
   * address on the pod network lets pods reach it.
   */
  host?: string;
  /** The bucket created at start (default browserfleet-artifacts). */
  bucket?: string;
  /** Keep the state directory after stop (for debugging a failed run). */
  keepDir?: boolean;
}

export interface ObjectStore {
  /** The S3 API's URL, `http://<host>:<port>`. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The artifact store config that points at this server (path-style, its credentials). */
  s3: S3StoreConfig;
  dir: string;
  /** Milliseconds from start until an object could be written. */
  readyMs: number;
  /** Kills the server and keeps its data: an outage. Clients get refused connections until `resume`. */
  interrupt(): Promise<void>;
  /** Starts the server again on the same address, credentials and data after `interrupt`. */
  resume(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

const DIR_PREFIX = 'browserfleet-s3-';
const REGION = 'us-east-1';
/** An object written at start and read after a resume; outside every artifact prefix (projects/…). */
const PROBE_KEY = '.browserfleet-ready';

/**
 * A real S3 server for dev, tests and benchmarks: SeaweedFS's `weed server` (master, volume server, filer and
 * its S3 gateway in one process, built by hack/build-k8s-tools.sh) on free ports of `host`, in a fresh
 * temporary directory, with one identity of random credentials and the bucket created. The process runs under
 * `setpriv --pdeathsig KILL`, so it dies with this one, and a directory left by a dead owner is removed (and
 * what it recorded as running killed) on the next start.
 */
export async function startObjectStore(opts: ObjectStoreOptions = {}): Promise<ObjectStore> {
  reapStaleDirs(DIR_PREFIX, removeGrpcSockets);
  const started = Date.now();
  const host = opts.host ?? '127.0.0.1';
  const bucket = opts.bucket ?? 'browserfleet-artifacts';
  const dir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  const accessKeyId = `BF${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  await writeFile(
    path.join(dir, 's3-identities.json'),
    JSON.stringify({
      identities: [
        {
          name: 'browserfleet',
          credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
    { mode: 0o600 },
  );
  const ports = await freePorts(8, host);
  await writeFile(path.join(dir, 'ports.json'), JSON.stringify(ports));
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${ports[6]}`;
  const s3: S3StoreConfig = {
    endpoint,
    bucket,
    region: REGION,
    forcePathStyle: true,
    prefix: '',
    accessKeyId,
    secretAccessKey,
    stallTimeoutMs: 10_000,
    maxAttempts: 3,
  };
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 2000, socketTimeout: 5000 },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });

  let proc: Weed | undefined;
  let stopped = false;
  const killSync = (): void => {
    proc?.killSync();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killSync);
  const up = async (): Promise<void> => {
    proc = runWeed(dir, weedArgs(dir, host, ports), grpcSockets(ports));
    // Ready when an object can be written: the S3 gateway answers before the volume server has joined the
    // master, and until then a write fails with "no writable volumes".
    await waitFor(async () => {
      await client.send(new ListBucketsCommand({}));
      return true;
    }, proc);
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killSync);
    client.destroy();
    await proc?.stop();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    await up();
    await waitFor(async () => {
      await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
        if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
      });
      return true;
    }, proc);
    await waitFor(async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: PROBE_KEY, Body: 'ready' }));
      return true;
    }, proc);
    return {
      endpoint,
      bucket,
      region: REGION,
      accessKeyId,
      secretAccessKey,
      s3,
      dir,
      readyMs: Date.now() - started,
      async interrupt() {
        if (stopped) throw new Error('the object store was stopped');
        await proc?.stop();
      },
      async resume() {
        if (stopped) throw new Error('the object store was stopped');
        if (proc && !proc.done()) return;
        await up();
        // Back once stored objects can be read again: the volume server has re-joined the master.
        await waitFor(async () => {
          const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: PROBE_KEY }));
          await got.Body?.transformToString();
          return true;
        }, proc);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `weed server` with every port chosen (each of its servers would otherwise take a fixed default, and the gRPC
 * ones port+10000), its unix sockets and logs inside `dir`, and the parts dev needs off: telemetry (it would
 * call out to seaweedfs.com), the Iceberg and Lance catalogs, IAM writes, and the volume server's 10 s pause
 * before it stops.
 */
export function weedArgs(dir: string, host: string, ports: readonly number[]): string[] {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = ports;
  if (s3Grpc === undefined) throw new Error('weedArgs needs 8 ports');
  return [
    '-logtostderr',
    'server',
    `-ip=${host}`,
    `-ip.bind=${host}`,
    `-dir=${path.join(dir, 'data')}`,
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.telemetry=false',
    // Small volumes: a test writes kilobytes, and each volume is a file of up to this size.
    '-master.volumeSizeLimitMB=64',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-volume.preStopSeconds=0',
    '-volume.max=16',
    '-filer',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
    `-s3.config=${path.join(dir, 's3-identities.json')}`,
  ];
}

/**
 * The unix sockets `weed server` opens beside each gRPC port. Their directory is fixed (/tmp, whatever TMPDIR
 * says), and weed removes them only on a graceful stop, so whoever kills it removes them.
 */
export function grpcSockets(ports: readonly number[]): string[] {
  const [, masterGrpc, , volumeGrpc, , filerGrpc, , s3Grpc] = ports;
  return [
    ['master', masterGrpc],
    ['volume', volumeGrpc],
    ['filer', filerGrpc],
    ['s3', s3Grpc],
  ].map(([name, port]) => `/tmp/seaweedfs-${name}-grpc-${port}.sock`);
}

interface Weed {
  child: ChildProcess;
  logFile: string;
  done(): boolean;
  stop(): Promise<void>;
  killSync(): void;
}

function runWeed(dir: string, args: string[], sockets: readonly string[]): Weed {
  const logFile = path.join(dir, 'weed.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  // pdeathsig: if the owning Node process is SIGKILLed, the kernel takes weed with it.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', tool('weed'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // weed writes its temporary files (and any default socket) under TMPDIR: keep them in the state dir.
    env: { ...process.env, TMPDIR: dir },
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void mkdir(path.join(dir, 'data'), { recursive: true });
  void writeFile(path.join(dir, 'weed.pid'), String(child.pid ?? ''));
  const done = () => child.exitCode !== null || child.signalCode !== null;
  const removeSockets = () => {
    for (const socket of sockets) rmSync(socket, { force: true });
  };
  return {
    child,
    logFile,
    done,
    // SIGKILL, not SIGTERM: a graceful stop takes weed 15 s (its filer waits for the volume server it has
    // already stopped), and the data here is disposable; what a kill leaves behind is removed here.
    async stop() {
      if (!done()) child.kill('SIGKILL');
      await exited;
      removeSockets();
    },
    killSync() {
      if (!done()) child.kill('SIGKILL');
      removeSockets();
    },
  };
}

async function waitFor(
  ready: () => Promise<boolean>,
  proc: Weed | undefined,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (proc?.done()) throw new Error(`weed exited during start; its log ends:\n${tail(proc.logFile)}`);
    try {
      if (await ready()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`weed not ready after ${timeoutMs} ms (${why}); its log ends:\n${tail(proc?.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string | undefined, lines = 30): string {
  if (!file) return '';
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The gRPC sockets a dead weed left in /tmp, named by the ports its directory recorded. */
function removeGrpcSockets(dir: string): void {
  try {
    for (const socket of grpcSockets(JSON.parse(readText(path.join(dir, 'ports.json'))) as number[]))
      rmSync(socket, { force: true });
  } catch {
    // no ports recorded: weed never started
  }
}
