import { describe, expect, it } from 'vitest';
import { Env } from '../../../../lib/env.ts';
import {
  RESULTS_STORE_ENV,
  resultsStoreConfigFromEnv,
  resultsStoreEnv,
} from '../../../../lib/job/results-store-config.ts';

const config = {
  endpoint: 'http://127.0.0.1:9000',
  region: 'eu-central-1',
  bucket: 'results',
  accessKeyId: 'id',
  secretAccessKey: 'secret',
};

describe('the results store settings', () => {
  it('are read back from the variables that carry them', () => {
    const vars = resultsStoreEnv(config);
    expect(Object.keys(vars).sort()).toEqual(Object.keys(RESULTS_STORE_ENV).sort());
    expect(vars.S3_ACCESS_KEY_ID).toBe('id');
    expect(resultsStoreConfigFromEnv(new Env(vars))).toEqual(config);
  });

  it('default the region, and name the variable that is missing or unusable', () => {
    const { S3_REGION: _, ...noRegion } = resultsStoreEnv(config);
    expect(resultsStoreConfigFromEnv(new Env(noRegion)).region).toBe('us-east-1');
    for (const name of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
      expect(() => resultsStoreConfigFromEnv(new Env({ ...resultsStoreEnv(config), [name]: '' }))).toThrow(
        `configuration: ${name} is not set`,
      );
    }
    expect(() => resultsStoreConfigFromEnv(new Env({ ...resultsStoreEnv(config), S3_ENDPOINT: 'minio:9000' }))).toThrow(
      /S3_ENDPOINT must be/,
    );
  });
});
