import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../testing/thrown.js';
import { ConfigError, parseConfig } from '../config.js';
import { artifactStoreConfigSchema } from './config.js';

const parse = (input: unknown) => parseConfig(artifactStoreConfigSchema, input, 'test.yaml');
const refusal = (input: unknown) => thrownBy(() => parse(input), ConfigError).message;

describe('artifact store config', () => {
  it('is off by default, and its defaults pass the schema', () => {
    expect(parse({})).toEqual({
      enabled: false,
      s3: {
        endpoint: '',
        bucket: '',
        region: 'us-east-1',
        forcePathStyle: false,
        prefix: '',
        accessKeyId: '',
        secretAccessKey: '',
        stallTimeoutMs: 10_000,
        maxAttempts: 3,
      },
    });
  });

  it('keeps the defaults of fields a file leaves out', () => {
    const c = parse({ enabled: true, s3: { bucket: 'artifacts', endpoint: 'http://127.0.0.1:8333' } });
    expect(c.s3).toMatchObject({ bucket: 'artifacts', region: 'us-east-1', maxAttempts: 3 });
  });

  it.each([
    [{ enabled: true }, 's3.bucket: required when artifacts are enabled'],
    [{ enabled: true, s3: { bucket: 'Bad_Bucket' } }, 's3.bucket: must be an S3 bucket name'],
    [
      { enabled: true, s3: { bucket: 'b-1', accessKeyId: 'AK' } },
      's3.secretAccessKey: set both accessKeyId and secretAccessKey, or neither',
    ],
    [
      { enabled: true, s3: { bucket: 'b-1', secretAccessKey: 'sk' } },
      's3.accessKeyId: set both accessKeyId and secretAccessKey, or neither',
    ],
    [{ s3: { endpoint: 'ftp://store' } }, 's3.endpoint: must be an http(s) URL'],
    [{ s3: { endpoint: 'http://store/?x=1' } }, 's3.endpoint: must be an http(s) URL'],
    [{ s3: { prefix: 'no-slash' } }, 's3.prefix: must be empty or end with /'],
    [{ s3: { prefix: '/abs/' } }, 's3.prefix: must be empty or end with /'],
    [{ s3: { stallTimeoutMs: 5 } }, 's3.stallTimeoutMs'],
    [{ s3: { pathStyle: true } }, 's3.pathStyle: unknown key'],
    [{ bucket: 'b' }, 'bucket: unknown key'],
  ])('refuses %j naming the field', (input, message) => {
    expect(refusal(input)).toContain(`config test.yaml: ${message}`);
  });

  it('lets a disabled store keep an incomplete s3 block (a chart may fill it in later)', () => {
    expect(parse({ enabled: false, s3: { accessKeyId: 'AK' } }).s3.accessKeyId).toBe('AK');
  });
});
