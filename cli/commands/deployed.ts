// Commands for the pipeline deployed with `cdk deploy`, using the operator's own AWS credentials
// (the SDK's default chain: AWS_PROFILE, SSO, environment):
//
//   amigo-qa secret set --stack AmigoQa     put the AMIGO_* variables into the stack's secret
//   amigo-qa trigger --stack AmigoQa        start a run now, instead of waiting for the schedule
//
// The stack is found by name through its CloudFormation outputs (SecretArn, SchedulerFunctionName).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { amigoConfigFromEnv } from '../../shared/amigo/config.ts';
import { NIGHTLY_INPUT, STALL_SCAN_INPUT } from '../../shared/contract/topology.ts';
import { ConfigurationError, PermanentError } from '../../shared/errors.ts';

export interface DeployedClients {
  readonly cloudFormation: CloudFormationClient;
  readonly secrets: SecretsManagerClient;
  readonly lambda: LambdaClient;
}

export function deployedClients(region?: string): DeployedClients {
  const options = region ? { region } : {};
  return {
    cloudFormation: new CloudFormationClient(options),
    secrets: new SecretsManagerClient(options),
    lambda: new LambdaClient(options),
  };
}

/** One output of a deployed stack (`cdk deploy` prints them too). */
export async function stackOutput(
  cloudFormation: CloudFormationClient,
  stack: string,
  key: string,
): Promise<string> {
  const { Stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stack }));
  const value = Stacks[0]?.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
  if (!value) {
    throw new ConfigurationError(
      '--stack',
      `"${stack}" has no output ${key}`,
      'Name the stack `npx cdk deploy` created (AmigoQa by default), in the region it was deployed to (--region)',
    );
  }
  return value;
}

export interface PutSecretOptions {
  /** The stack whose SecretArn output names the secret. */
  readonly stack?: string | undefined;
  /** The secret's ARN or name, instead of the stack's. */
  readonly secretId?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Validates the AMIGO_* variables as the client does, then writes them to the secret as the JSON
 * the functions read. The values never reach the terminal.
 *
 * @example
 * ```sh
 * # AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID and AMIGO_ORGANIZATION_ID exported first
 * npm run cli -- secret set --stack AmigoQa
 * ```
 */
export async function putAmigoSecret(
  clients: Pick<DeployedClients, 'cloudFormation' | 'secrets'>,
  options: PutSecretOptions,
): Promise<{ secretId: string; userId: string; organizationId: string }> {
  const config = amigoConfigFromEnv(options.env ?? process.env);
  const secretId = await target(options.secretId, options.stack, (stack) =>
    stackOutput(clients.cloudFormation, stack, 'SecretArn'),
  );
  await clients.secrets.send(
    new PutSecretValueCommand({
      SecretId: secretId,
      SecretString: JSON.stringify({
        AMIGO_API_KEY: config.apiKey,
        AMIGO_API_KEY_ID: config.apiKeyId,
        AMIGO_USER_ID: config.userId,
        AMIGO_ORGANIZATION_ID: config.organizationId,
        AMIGO_BASE_URL: config.baseUrl,
      }),
    }),
  );
  return { secretId, userId: config.userId, organizationId: config.organizationId };
}

export interface TriggerOptions {
  readonly stack?: string | undefined;
  readonly functionName?: string | undefined;
  /** Only look for stalled interactions (what the frequent schedule does). */
  readonly stallsOnly?: boolean | undefined;
  /** Backfill: list down to this date instead of the watermark. */
  readonly since?: string | undefined;
}

/**
 * Invokes the scheduler asynchronously with the schedule's own input (and `since`).
 *
 * @example
 * ```sh
 * npm run cli -- trigger --stack AmigoQa                     # a nightly run, now
 * npm run cli -- trigger --stack AmigoQa --since 2026-11-01  # backfill down to that day
 * npm run cli -- trigger --stack AmigoQa --stalls-only       # what the frequent schedule does
 * ```
 */
export async function triggerRun(
  clients: Pick<DeployedClients, 'cloudFormation' | 'lambda'>,
  options: TriggerOptions,
): Promise<{ functionName: string; payload: Record<string, unknown> }> {
  const functionName = await target(options.functionName, options.stack, (stack) =>
    stackOutput(clients.cloudFormation, stack, 'SchedulerFunctionName'),
  );
  const payload = {
    ...(options.stallsOnly ? STALL_SCAN_INPUT : NIGHTLY_INPUT),
    ...(options.since ? { since: options.since } : {}),
  };
  const answer = await clients.lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(JSON.stringify(payload)),
    }),
  );
  if (answer.StatusCode !== 202) {
    throw new PermanentError(
      `Lambda did not accept the invocation of ${functionName} (status ${answer.StatusCode})`,
    );
  }
  return { functionName, payload };
}

async function target(
  explicit: string | undefined,
  stack: string | undefined,
  fromStack: (stack: string) => Promise<string>,
): Promise<string> {
  if (explicit && stack)
    throw new ConfigurationError('--stack', 'is given together with a direct target', 'Give one of them');
  if (explicit) return explicit;
  if (stack) return fromStack(stack);
  throw new ConfigurationError('--stack', 'is not given', 'Name the deployed stack, e.g. --stack AmigoQa');
}

/**
 * Registers the commands for a deployed stack: `secret set` ({@link putAmigoSecret}) and `trigger`
 * ({@link triggerRun}).
 *
 * @example
 * ```sh
 * npm run cli -- secret set --stack AmigoQa --region eu-central-1
 * npm run cli -- trigger --stack AmigoQa --region eu-central-1
 * ```
 */
export function registerDeployedCommands(program: Command): void {
  const secret = program.command('secret').description('The Amigo credentials of the deployed pipeline');
  secret
    .command('set')
    .description(
      "Put AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and AMIGO_BASE_URL or AMIGO_REGION) into the stack's secret",
    )
    .option('--stack <name>', 'the stack `npx cdk deploy` created', 'AmigoQa')
    .option('--secret-id <arn>', "a secret's ARN or name instead of the stack's")
    .option('--region <region>', 'AWS region of the stack (default: your AWS configuration)')
    .action(async (flags: { stack?: string; secretId?: string; region?: string }) => {
      const done = await putAmigoSecret(deployedClients(flags.region), {
        secretId: flags.secretId,
        stack: flags.secretId ? undefined : flags.stack,
      });
      console.log(
        `Put the credentials of user ${done.userId} in organisation ${done.organizationId} into ${done.secretId}.`,
      );
      console.log(
        'The functions read them when they start; docs/deploy.md says how to apply new ones at once.',
      );
    });
  program
    .command('trigger')
    .description('Start a run of the deployed pipeline now (asynchronously), as the nightly schedule does')
    .option('--stack <name>', 'the stack `npx cdk deploy` created', 'AmigoQa')
    .option('--function <name>', "the scheduler function's name instead of the stack's")
    .option('--stalls-only', 'only look for stalled interactions, as the frequent schedule does')
    .option('--since <date>', 'backfill: list conversations down to this date instead of the watermark')
    .option('--region <region>', 'AWS region of the stack (default: your AWS configuration)')
    .action(
      async (flags: {
        stack?: string;
        function?: string;
        stallsOnly?: boolean;
        since?: string;
        region?: string;
      }) => {
        const done = await triggerRun(deployedClients(flags.region), {
          functionName: flags.function,
          stack: flags.function ? undefined : flags.stack,
          stallsOnly: flags.stallsOnly,
          since: flags.since,
        });
        console.log(`Started ${done.functionName} with ${JSON.stringify(done.payload)}.`);
        console.log(`Follow it: aws logs tail /aws/lambda/${done.functionName} --follow`);
      },
    );
}
