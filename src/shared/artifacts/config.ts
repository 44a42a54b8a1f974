import { z } from 'zod';
import { intIn } from '../config.js';

/** An http(s) URL without query or fragment (a path is allowed: some gateways serve S3 under one). */
const endpointUrl = z.string().refine((v) => {
  if (v === '') return true;
  try {
    const url = new URL(v);
    return ['http:', 'https:'].includes(url.protocol) && !url.search && !url.hash;
  } catch {
    return false;
  }
}, 'must be an http(s) URL without query, or empty for AWS S3 in `region`');

/** S3's bucket naming rules (3–63 characters: lower-case letters, digits, `.` and `-`, starting and ending alnum). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const s3Fields = z.strictObject({
  /** The S3 API's URL (MinIO, SeaweedFS, Ceph RGW, …); empty: AWS S3 for `region`. */
  endpoint: endpointUrl.default(''),
  bucket: z.string().default(''),
  region: z.string().min(1).default('us-east-1'),
  /** `http://host/bucket/key` instead of `http://bucket.host/key`: what most stores other than AWS need. */
  forcePathStyle: z.boolean().default(false),
  /** Put every key under this prefix (a bucket shared with other uses); empty, or ending in `/`. */
  prefix: z
    .string()
    .regex(/^$|^[^/].*\/$/, 'must be empty or end with / (and not start with /)')
    .default(''),
  /**
   * Static credentials (a Secret's values, through BF_ARTIFACTS_S3_ACCESS_KEY_ID and
   * BF_ARTIFACTS_S3_SECRET_ACCESS_KEY). Both empty: the AWS SDK's default chain (its env variables, web identity,
   * instance roles).
   */
  accessKeyId: z.string().default(''),
  secretAccessKey: z.string().default(''),
  /**
   * Longest a request may make no progress (connecting, or no byte either way) before it counts as failed; a
   * large object that keeps moving is not cut.
   */
  stallTimeoutMs: intIn(100, 600_000).default(10_000),
  /** Tries per request, the first included (the SDK backs off between them). */
  maxAttempts: intIn(1, 10).default(3),
});

const fields = z.strictObject({
  /** Off: no artifact is kept, and the artifact endpoints say so. */
  enabled: z.boolean().default(false),
  s3: s3Fields.prefault({}),
});

/** The artifact store, a field of the operator's and the gateway's configs (the chart's `artifacts`). */
export const artifactStoreConfigSchema = fields.superRefine((c, ctx) => {
  if (!c.enabled) return;
  if (!BUCKET.test(c.s3.bucket))
    ctx.addIssue({
      code: 'custom',
      path: ['s3', 'bucket'],
      message:
        c.s3.bucket === ''
          ? 'required when artifacts are enabled'
          : 'must be an S3 bucket name (3-63 lower-case letters, digits, . and -)',
    });
  if ((c.s3.accessKeyId === '') !== (c.s3.secretAccessKey === ''))
    ctx.addIssue({
      code: 'custom',
      path: ['s3', c.s3.accessKeyId === '' ? 'accessKeyId' : 'secretAccessKey'],
      message: 'set both accessKeyId and secretAccessKey, or neither (for the default credential chain)',
    });
});

export type ArtifactStoreConfig = z.output<typeof artifactStoreConfigSchema>;
export type S3StoreConfig = ArtifactStoreConfig['s3'];

/** The env variables a deployment sets from the store's Secret, by the config field each sets (under `at`). */
export function artifactEnvOverrides(at: string): Record<string, string> {
  return {
    BF_ARTIFACTS_S3_ACCESS_KEY_ID: `${at}.s3.accessKeyId`,
    BF_ARTIFACTS_S3_SECRET_ACCESS_KEY: `${at}.s3.secretAccessKey`,
  };
}
