// `run --archive s3://bucket/prefix` as the README's "Archiving to S3" section describes it, against
// the embedded S3 emulator (local/fauxqs.ts, on 127.0.0.1) named by AWS_ENDPOINT_URL_S3, and the
// simulator. The bucket must exist: a missing one is refused before anything starts. Then `report`
// reads that archive from S3 (the QA report, shared/report/).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { simulatorAmigoEnv } from '../../support/sim-credentials.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';
import { baseEnv, runCli } from './cli-process.ts';

let aws: LocalAws;
let sim: TestSimulator;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  aws = await startLocalAws();
  sim = await startTestSimulator({ conversations: 6, rateLimits: { enabled: true, scale: 600 } });
  home = await mkdtemp(join(tmpdir(), 'cli-s3-'));
  env = {
    ...baseEnv(home),
    ...simulatorAmigoEnv(sim),
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: aws.endpoint,
  };
});

afterAll(async () => {
  await sim?.stop();
  await aws?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('run with an s3:// archive on the embedded emulator', () => {
  it('when the bucket does not exist, then the run is refused naming the bucket, the endpoint and how to create it', async () => {
    const result = await runCli(['run', '--archive', 's3://missing-bucket/amigo', '--rate-scale', '600'], {
      cwd: home,
      env,
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`--archive: the bucket "missing-bucket" does not exist at 127\\.0\\.0\\.1:${aws.port}`),
    );
    expect(result.stderr).toMatch(/aws s3 mb s3:\/\/missing-bucket --endpoint-url \$AWS_ENDPOINT_URL_S3/);
    expect(sim.control.stats().calls).toEqual({});
  });

  it('when the bucket exists, then the run archives into it under the prefix', async () => {
    const s3 = aws.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'qa-archive' }));

    const result = await runCli(['run', '--archive', 's3://qa-archive/amigo', '--rate-scale', '600'], {
      cwd: home,
      env,
      limitMs: 120_000,
    });

    expect(result.stderr).toMatch(/^archive: \d+\/\d+ done, 0 failed$/m);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}archive +s3:\/\/qa-archive\/amigo$/m);
    const { Contents = [] } = await s3.send(
      new ListObjectsV2Command({ Bucket: 'qa-archive', Prefix: 'amigo/' }),
    );
    expect(Contents.some((o) => o.Key?.endsWith('/manifest.json'))).toBe(true);
  });

  it('when report reads that s3:// archive, then it writes a report of every archived conversation with its recordings', async () => {
    const s3 = aws.s3();
    const { Contents = [] } = await s3.send(
      new ListObjectsV2Command({ Bucket: 'qa-archive', Prefix: 'amigo/' }),
    );
    const manifests = Contents.filter((o) => o.Key?.endsWith('/manifest.json')).length;
    const recordings = Contents.filter((o) => /\/audio\/[^/]+\.wav$/.test(o.Key ?? '')).length;
    const out = join(home, 'report');

    const result = await runCli(['report', '--archive', 's3://qa-archive/amigo', '--out', out], {
      cwd: home,
      env,
    });

    expect(result.code).toBe(0);
    expect(manifests).toBeGreaterThan(0);
    expect(result.stdout).toContain(`Report: ${manifests} conversation`);
    expect(result.stdout).toContain(`${recordings} recording`);
    expect(result.stdout).toContain(`${pathToFileURL(join(out, 'index.html')).href}`);
    expect((await readdir(join(out, 'data', 'conversations'))).length).toBe(manifests);
  });
});
