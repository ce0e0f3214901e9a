// The four Lambda bundles exactly as `cdk deploy` uploads them: the stack synthesized with its own
// bundling (esbuild, AmigoFunction's options, the embedded deployment document), and each
// function's asset folder found through the template. Used by the bundle test and bench:bundles.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadDeploymentInputs } from '../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../infra/stacks/amigo-qa-stack.ts';
import { FUNCTIONS, type FunctionId } from '../../shared/contract/topology.ts';

export interface LambdaBundle {
  readonly fn: FunctionId;
  readonly name: string;
  /** The asset folder (what Lambda unpacks into /var/task). */
  readonly dir: string;
  /** Its index.mjs. */
  readonly file: string;
  readonly bytes: number;
}

const cdkContext: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

export function buildLambdaBundles(options: {
  outdir: string;
  config?: string;
  rules?: string;
}): LambdaBundle[] {
  // Asset metadata (each function's asset folder) is what the CDK CLI asks for too.
  const app = new App({
    outdir: options.outdir,
    context: { ...cdkContext, 'aws:cdk:enable-asset-metadata': true },
  });
  const stack = new AmigoQaStack(app, 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs: loadDeploymentInputs({ config: options.config, rules: options.rules }),
  });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Metadata?: Record<string, string> }
  >;
  return (
    Object.entries(stack.functions) as [FunctionId, NonNullable<(typeof stack.functions)[FunctionId]>][]
  ).map(([fn, f]) => {
    const assetPath =
      resources[stack.getLogicalId(f.function.node.defaultChild as never)]?.Metadata?.['aws:asset:path'];
    if (!assetPath) throw new Error(`${fn} has no bundled asset`);
    const dir = join(options.outdir, assetPath);
    const file = join(dir, 'index.mjs');
    return { fn, name: FUNCTIONS[fn].name, dir, file, bytes: statSync(file).size };
  });
}

/** A Lambda invocation of the bundle, in a fresh process, with the given environment. */
export function invocationScript(fn: FunctionId): string {
  const event =
    fn === 'scheduler'
      ? { tasks: ['stalls'] }
      : {
          Records: [
            {
              messageId: 'm-1',
              receiptHandle: 'r-1',
              body: '{}',
              attributes: { ApproximateReceiveCount: '1' },
              messageAttributes: {},
              md5OfBody: '',
              eventSource: 'aws:sqs',
              eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:queue',
              awsRegion: 'us-east-1',
            },
          ],
        };
  return `
const started = performance.now();
const m = await import('./index.mjs');
const importMs = performance.now() - started;
const context = { functionName: ${JSON.stringify(FUNCTIONS[fn].name)}, awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60000 };
let outcome;
try {
  outcome = { ok: true, result: await m.handler(${JSON.stringify(event)}, context) };
} catch (e) {
  const inner = e.recordErrors?.map((x) => ({ name: x.name, message: x.message }));
  outcome = { ok: false, name: e.name, message: e.message, inner };
}
process.stdout.write(JSON.stringify({ handler: typeof m.handler, importMs, outcome }));
`;
}
