// `npm start` and `run` drive the handlers with the numbers the stack gives AWS: compared here with
// the synthesized template itself, so a change on either side that the other does not follow fails.
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { localTopology } from '../../../local/pipeline.ts';
import type { FunctionId, QueueId } from '../../../shared/contract/topology.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import { resourcesOf } from './template-json.ts';

afterAll(removeTestOutdirs);

describe('the local cycle and the deployed stack', () => {
  const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs,
  });
  const resources = resourcesOf(Template.fromStack(stack));
  const logicalId = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as never);
  const local = localTopology(inputs.config, inputs.config.amigo.rateLimits);

  it('when both run the pipeline, then every function has the same timeout, batch size and concurrency', () => {
    for (const [id, f] of Object.entries(stack.functions) as [
      FunctionId,
      NonNullable<(typeof stack.functions)[FunctionId]>,
    ][]) {
      const fnId = logicalId(f.function);
      const mapping = Object.values(resources).find(
        (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && r.Properties.FunctionName?.Ref === fnId,
      );
      expect(local.functions[id]).toEqual({
        functionTimeoutMs: (resources[fnId]?.Properties.Timeout as number) * 1000,
        batchSize: mapping?.Properties.BatchSize,
        concurrency: mapping?.Properties.ScalingConfig.MaximumConcurrency,
      });
    }
  });

  it('when both create the queues, then visibility, retention and receive count are the same', () => {
    for (const [id, q] of Object.entries(stack.queues) as [
      QueueId,
      NonNullable<(typeof stack.queues)[QueueId]>,
    ][]) {
      const queue = resources[logicalId(q.queue)]?.Properties;
      const dlq = resources[logicalId(q.deadLetterQueue)]?.Properties;
      expect(local.queues[id]).toEqual({
        visibilityTimeoutSeconds: queue?.VisibilityTimeout,
        retentionSeconds: queue?.MessageRetentionPeriod,
        maxReceiveCount: queue?.RedrivePolicy.maxReceiveCount,
        deadLetterRetentionSeconds: dlq?.MessageRetentionPeriod,
      });
    }
  });

  it('when a test shortens a timeout, then the local queue visibility follows it as in AWS', () => {
    const short = localTopology(inputs.config, inputs.config.amigo.rateLimits, { archiveWorker: 20_000 });

    expect(short.functions.archiveWorker.functionTimeoutMs).toBe(20_000);
    expect(short.queues.archive.visibilityTimeoutSeconds).toBe(120);
  });
});
