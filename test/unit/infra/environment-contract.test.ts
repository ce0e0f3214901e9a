// The environment contract: what the template gives each function is exactly what that function's
// cold-start reader (shared/runtime/lambda.ts) accepts, and it fits Lambda's 4 KB limit even when
// every name AWS generates is as long as AWS allows.
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { FUNCTIONS, type FunctionId } from '../../../shared/contract/topology.ts';
import { readFunctionEnv } from '../../../shared/runtime/lambda.ts';
import { type Resolver, resolveIntrinsics } from '../../support/iam/policy.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import { resourcesOf } from './template-json.ts';

afterAll(removeTestOutdirs);

/** Lambda: "The total size of all environment variables doesn't exceed 4 KB." */
const LAMBDA_ENVIRONMENT_LIMIT = 4096;

const region = 'ap-southeast-2';
const account = '123456789012';

function synth(context: { config?: string; rules?: string }) {
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env: { account, region },
    inputs: loadDeploymentInputs(context),
  });
  const resources = resourcesOf(Template.fromStack(stack));
  const environments = Object.fromEntries(
    (
      Object.entries(stack.functions) as [FunctionId, NonNullable<(typeof stack.functions)[FunctionId]>][]
    ).map(([id, f]) => [
      id,
      resources[stack.getLogicalId(f.function.node.defaultChild as never)]?.Properties.Environment.Variables,
    ]),
  ) as Record<FunctionId, Record<string, unknown>>;
  return { resources, environments };
}

/**
 * Realistic values for what CloudFormation resolves at deploy time. `longest`: names at the
 * lengths AWS allows at most (queue names 80 characters, buckets 63, tables 255, secret names 512).
 */
function resolverFor(resources: Record<string, { Type: string }>, longest: boolean): Resolver {
  const name = (logicalId: string, max: number) =>
    longest ? `${logicalId}-${'x'.repeat(max)}`.slice(0, max) : `AmigoQa-${logicalId}-1A2B3C4D5E6F`;
  return (intrinsic) => {
    const [id, attribute] =
      'Ref' in intrinsic ? [intrinsic.Ref, 'Ref'] : [intrinsic['Fn::GetAtt'][0], intrinsic['Fn::GetAtt'][1]];
    const type = resources[id]?.Type;
    switch (`${type}.${attribute}`) {
      case 'AWS::SQS::Queue.Ref':
        return `https://sqs.${region}.amazonaws.com/${account}/${name(id, 80)}`;
      case 'AWS::S3::Bucket.Ref':
        return name(id.toLowerCase(), 63);
      case 'AWS::DynamoDB::Table.Ref':
        return name(id, 255);
      case 'AWS::SecretsManager::Secret.Ref':
        return `arn:aws:secretsmanager:${region}:${account}:secret:${name(id, 512)}-AbCdEf`;
      default:
        throw new Error(`No realistic value for ${type} ${attribute} (${id})`);
    }
  };
}

const bytes = (vars: Record<string, string>) =>
  Object.entries(vars).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

describe('the environment each function gets', () => {
  const { resources, environments } = synth({
    config: 'examples/amigo-qa.yaml',
    rules: 'examples/rules.yaml',
  });

  for (const fn of Object.keys(FUNCTIONS) as FunctionId[]) {
    it(`when the ${FUNCTIONS[fn].name} cold-starts with the template's environment, then its reader accepts it`, () => {
      const vars = resolveIntrinsics(environments[fn], resolverFor(resources, false), {
        region,
        account,
      }) as Record<string, string>;

      const env = readFunctionEnv(fn, vars);

      for (const name of FUNCTIONS[fn].env.required) expect(env[name]).toBeDefined();
      const declared = new Set<string>([...FUNCTIONS[fn].env.required, ...FUNCTIONS[fn].env.optional]);
      const ours = Object.keys(vars).filter((k) => !k.startsWith('POWERTOOLS_') && k !== 'NODE_OPTIONS');
      expect(ours.filter((k) => !declared.has(k))).toEqual([]);
    });

    it(`when every AWS name is as long as allowed, then the ${FUNCTIONS[fn].name} environment stays under 4 KB`, () => {
      const vars = resolveIntrinsics(environments[fn], resolverFor(resources, true), {
        region,
        account,
      }) as Record<string, string>;

      expect(() => readFunctionEnv(fn, vars)).not.toThrow();
      expect(bytes(vars)).toBeLessThan(LAMBDA_ENVIRONMENT_LIMIT);
      expect(Buffer.byteLength(JSON.stringify(vars))).toBeLessThan(LAMBDA_ENVIRONMENT_LIMIT);
    });
  }

  it('when the functions differ in what they need, then each gets only its own: no DLQ for the scheduler, no rules anywhere', () => {
    expect(environments.scheduler).not.toHaveProperty('ARCHIVE_DLQ_URL');
    expect(environments.stallWorker).not.toHaveProperty('ARCHIVE_DLQ_URL');
    expect(environments.stallWorker).not.toHaveProperty('TAG_QUEUE_URL');
    for (const vars of Object.values(environments)) {
      expect(Object.keys(vars)).not.toContain('RULES');
      expect(Object.keys(vars)).not.toContain('PIPELINE_CONFIG');
    }
    expect(environments.archiveWorker).toHaveProperty('TAG_QUEUE_URL');
  });

  it('when a required variable is missing from a function environment, then its cold start fails naming it', () => {
    const vars = resolveIntrinsics(environments.stallWorker, resolverFor(resources, false), {
      region,
      account,
    }) as Record<string, string>;
    const { STALL_DLQ_URL: _dropped, ...rest } = vars;

    expect(() => readFunctionEnv('stallWorker', rest)).toThrow(/STALL_DLQ_URL: is not set/);
  });
});
