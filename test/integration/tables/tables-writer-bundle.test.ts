// The tables writer's Lambda bundle as `cdk deploy` builds it (the stack's own esbuild options),
// loaded in a fresh Node 24 process the way Lambda loads it: under 1 MiB with the Parquet writer
// inside, a cold start without its environment fails naming the variable, and with it the bundled
// S3 client reads the run records of a bucket (the embedded emulator on 127.0.0.1).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { TABLES_WRITER } from '../../../shared/contract/topology.ts';
import { newRunId } from '../../../shared/ids.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), 'amigo-qa-tables-bundle-'));
let dir = '';
let aws: LocalAws;

beforeAll(async () => {
  const app = new App({
    outdir,
    context: {
      ...JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')).context,
      'aws:cdk:enable-asset-metadata': true,
    },
  });
  const stack = new AmigoQaStack(app, 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml' }),
  });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Metadata?: Record<string, string> }
  >;
  const asset =
    resources[stack.getLogicalId(stack.tablesWriter.function.node.defaultChild as never)]?.Metadata?.[
      'aws:asset:path'
    ];
  if (!asset) throw new Error('the tables writer has no bundled asset');
  dir = join(outdir, asset);
  aws = await startLocalAws();
}, 180_000);

afterAll(async () => {
  await aws?.stop();
  rmSync(outdir, { recursive: true, force: true });
});

const SCRIPT = `
const m = await import('./index.mjs');
const context = { functionName: ${JSON.stringify(TABLES_WRITER.name)}, awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60000 };
let outcome;
try {
  outcome = { ok: true, result: await m.handler({}, context) };
} catch (e) {
  outcome = { ok: false, name: e.name, message: e.message };
}
process.stdout.write(JSON.stringify({ outcome, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
`;

async function coldStart(env: Record<string, string>) {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...env,
    },
  });
  return JSON.parse(stdout) as {
    outcome: { ok: boolean; name?: string; message?: string; result?: Record<string, unknown> };
    maxRssMiB: number;
  };
}

describe('the tables writer bundle', () => {
  it('when built with the stack bundling, then it is under 1 MiB', () => {
    expect(statSync(join(dir, 'index.mjs')).size).toBeLessThan(MiB);
  });

  it('when it cold-starts without its environment, then it fails with a ConfigurationError naming ARCHIVE_BUCKET', async () => {
    const { outcome } = await coldStart({});
    expect(outcome).toMatchObject({
      ok: false,
      name: 'ConfigurationError',
      message: /ARCHIVE_BUCKET: is not set/,
    });
  });

  it('when it runs against a bucket with one recent, unreadable run record, then it reads it through the bundled S3 client and reports it', async () => {
    const s3 = aws.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'qa-bundle' }));
    const runId = newRunId(Date.now() - 3_600_000);
    await s3.send(new PutObjectCommand({ Bucket: 'qa-bundle', Key: `amigo/runs/${runId}.json`, Body: '{}' }));

    const { outcome } = await coldStart({
      ARCHIVE_BUCKET: 'qa-bundle',
      ARCHIVE_PREFIX: 'amigo',
      AWS_ENDPOINT_URL_S3: aws.endpoint,
    });

    expect(outcome).toEqual({
      ok: true,
      result: { runs: 0, parts: 0, rows: 0, unreadable: [`runs/${runId}.json`] },
    });
  });
});
