// The four Lambda bundles as `cdk deploy` builds them (the stack's own esbuild options), loaded in
// fresh Node 24 processes the way Lambda loads them. Each cold start reads the environment the
// stack declares for it, parses the config (and rules) built into it, and asks Secrets Manager (an
// in-process fake on 127.0.0.1: no AWS is reachable) with the bundled SDK; the secret still holds
// the stack's placeholder, so each must fail with a named ConfigurationError, proving that error
// names survive minification.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV, type EnvName, FUNCTIONS } from '../../shared/contract/topology.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { buildLambdaBundles, invocationScript, type LambdaBundle } from '../support/lambda-bundles.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amigo-qa-AbCdEf';
const outdir = mkdtempSync(join(tmpdir(), 'amigo-qa-bundles-'));
let bundles: LambdaBundle[] = [];
let secrets: FakeSecretsManager;

beforeAll(async () => {
  bundles = buildLambdaBundles({ outdir, config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  secrets = await startFakeSecretsManager();
  secrets.put(
    secretArn,
    JSON.stringify({ note: 'Put the AMIGO_* values: see docs/deploy.md', placeholder: 'x' }),
  );
}, 120_000);

afterAll(async () => {
  await secrets?.stop();
  rmSync(outdir, { recursive: true, force: true });
});

const dummy: Record<EnvName, string> = {
  [ENV.archiveBucket]: 'amigo-qa-archive',
  [ENV.archivePrefix]: '',
  [ENV.rateBudgetTable]: 'amigo-qa-rate-budget',
  [ENV.amigoSecretArn]: secretArn,
  [ENV.maxReceiveCount]: '5',
  [ENV.schedulerQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/scheduler',
  [ENV.archiveQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/archive',
  [ENV.archivePriorityQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/archive-priority',
  [ENV.archiveDlqUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/archive-dlq',
  [ENV.tagQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/tag',
  [ENV.tagDlqUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/tag-dlq',
  [ENV.stallQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/stall',
  [ENV.stallDlqUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/stall-dlq',
};

async function coldStart(bundle: LambdaBundle, env: Record<string, string>) {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', invocationScript(bundle.fn)], {
    cwd: bundle.dir,
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test-access-key-id',
      AWS_SECRET_ACCESS_KEY: 'test-secret-access-key',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...env,
    },
  });
  return JSON.parse(stdout) as {
    handler: string;
    outcome: { ok: boolean; name?: string; message?: string; inner?: { name: string; message: string }[] };
  };
}

/** The error a cold start ends with: the scheduler throws it; an SQS worker fails its whole batch with it. */
function coldStartError(outcome: Awaited<ReturnType<typeof coldStart>>['outcome']) {
  return outcome.name === 'FullBatchFailureError' ? outcome.inner?.[0] : outcome;
}

describe('Lambda bundles', () => {
  it('when built with the stack bundling, then there are four and each is under 1 MiB', () => {
    expect(bundles.map((b) => b.fn).sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const b of bundles) expect(b.bytes, b.name).toBeLessThan(MiB);
  });

  it('when a bundle cold-starts without its environment, then it fails with a ConfigurationError naming the first variable', async () => {
    for (const bundle of bundles) {
      const { handler, outcome } = await coldStart(bundle, {});

      expect(handler).toBe('function');
      expect(outcome.ok).toBe(false);
      expect(coldStartError(outcome)).toMatchObject({
        name: 'ConfigurationError',
        message: /ARCHIVE_BUCKET: is not set/,
      });
    }
  });

  it('when a bundle cold-starts with its environment and the placeholder secret, then it has parsed its config and names the missing credential', async () => {
    for (const bundle of bundles) {
      const { required, optional } = FUNCTIONS[bundle.fn].env;
      const env = Object.fromEntries([...required, ...optional].map((name) => [name, dummy[name]]));

      const { outcome } = await coldStart(bundle, env);

      expect(coldStartError(outcome), bundle.name).toMatchObject({
        name: 'ConfigurationError',
        message: /AMIGO_SECRET_ARN:AMIGO_API_KEY: is missing from the secret/,
      });
    }
    expect(secrets.reads.filter((id) => id === secretArn)).toHaveLength(bundles.length);
  });

  it('when the rules are built in, then only the tag worker carries them', () => {
    const rules = parseYaml(readFileSync('examples/rules.yaml', 'utf8')) as {
      rules: { description: string }[];
    };
    const description = rules.rules[0]?.description as string;
    for (const b of bundles) {
      const code = readFileSync(b.file, 'utf8');
      expect(code.includes(JSON.stringify(description).slice(1, -1)), b.name).toBe(b.fn === 'tagWorker');
      expect(code.includes('"rules":{"source":"rules.yaml"'), b.name).toBe(b.fn === 'tagWorker');
    }
  });
});
