// `secret set` and `trigger` against the deployed stack's outputs, over the real AWS SDK wire
// protocols to in-process fakes (AWS itself cannot be reached from here).
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putAmigoSecret, triggerRun } from '../../cli/commands/deployed.ts';
import { NIGHTLY_INPUT, STALL_SCAN_INPUT } from '../../shared/contract/topology.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { type FakeAwsControl, startFakeAwsControl } from '../support/fake-aws-control.ts';

let aws: FakeAwsControl;
let clients: { cloudFormation: CloudFormationClient; secrets: SecretsManagerClient; lambda: LambdaClient };
const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmigoCredentials-AbCdEf';
const apiKey = 'amigo-api-key-that-must-stay-secret';
const env = {
  AMIGO_API_KEY: apiKey,
  AMIGO_API_KEY_ID: 'key-id-1',
  AMIGO_USER_ID: 'user-1',
  AMIGO_ORGANIZATION_ID: 'org-1',
  AMIGO_REGION: 'eu-central-1',
};

beforeAll(async () => {
  aws = await startFakeAwsControl();
  aws.stacks.set('AmigoQa', {
    SecretArn: secretArn,
    SchedulerFunctionName: 'AmigoQa-SchedulerFunction-1A2B',
  });
  const config = {
    endpoint: aws.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test-access-key-id', secretAccessKey: 'test-secret' },
  };
  clients = {
    cloudFormation: new CloudFormationClient(config),
    secrets: new SecretsManagerClient(config),
    lambda: new LambdaClient(config),
  };
});

afterAll(() => aws?.stop());

describe('amigo-qa secret set', () => {
  it('when the AMIGO_* variables are set, then the stack secret receives them as the JSON the functions read', async () => {
    const done = await putAmigoSecret(clients, { stack: 'AmigoQa', env });

    expect(done).toEqual({ secretId: secretArn, userId: 'user-1', organizationId: 'org-1' });
    expect(JSON.parse(aws.secrets.get(secretArn) ?? '')).toEqual({
      AMIGO_API_KEY: apiKey,
      AMIGO_API_KEY_ID: 'key-id-1',
      AMIGO_USER_ID: 'user-1',
      AMIGO_ORGANIZATION_ID: 'org-1',
      AMIGO_BASE_URL: 'https://api-eu-central-1.amigo.ai',
    });
    expect(JSON.stringify(done)).not.toContain(apiKey);
  });

  it('when a variable is missing, then nothing is written and the error names it', async () => {
    const before = aws.secrets.size;
    const { AMIGO_USER_ID: _missing, ...partial } = env;

    const error = await putAmigoSecret(clients, { stack: 'AmigoQa', env: partial }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/AMIGO_USER_ID: is not set/);
    expect(aws.secrets.size).toBe(before);
  });

  it('when the stack has no such output, then the error names the stack and the fix', async () => {
    aws.stacks.set('Other', {});

    const error = await putAmigoSecret(clients, { stack: 'Other', env }).catch((e: unknown) => e);

    expect((error as Error).message).toMatch(/"Other" has no output SecretArn/);
  });
});

describe('amigo-qa trigger', () => {
  it('when triggered, then the scheduler is invoked asynchronously with the nightly input', async () => {
    const done = await triggerRun(clients, { stack: 'AmigoQa' });

    expect(done.functionName).toBe('AmigoQa-SchedulerFunction-1A2B');
    expect(aws.invocations.at(-1)).toEqual({
      functionName: 'AmigoQa-SchedulerFunction-1A2B',
      invocationType: 'Event',
      payload: NIGHTLY_INPUT,
    });
  });

  it('when stalls only and a backfill date are asked for, then the payload says so', async () => {
    await triggerRun(clients, { functionName: 'fn', stallsOnly: true });
    expect(aws.invocations.at(-1)?.payload).toEqual(STALL_SCAN_INPUT);

    await triggerRun(clients, { functionName: 'fn', since: '2026-11-01' });
    expect(aws.invocations.at(-1)?.payload).toEqual({ ...NIGHTLY_INPUT, since: '2026-11-01' });
  });
});
