// `npm start` and `run` drive the handlers with the numbers the stack gives AWS: compared here with
// the synthesized template itself, so a change on either side that the other does not follow fails.
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { localTopology } from '../../../local/pipeline.ts';
import {
  ENV,
  FUNCTIONS,
  type FunctionId,
  type QueueId,
  queuesOf,
} from '../../../shared/contract/topology.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import { resourcesOf } from './template-json.ts';

afterAll(removeTestOutdirs);

describe('the local cycle and the deployed stack', () => {
  const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs,
  });
  const template = Template.fromStack(stack);
  const resources = resourcesOf(template);
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

  // The priority archive queue, on this file's synth (another synth would cost npm test seconds): its own
  // event source mapping, the numbers the local runner binds it with, and the grants to send and consume.
  describe('the priority archive queue', () => {
    const queueId = (q: 'archive' | 'archivePriority') => logicalId(stack.queues[q]?.queue as never);
    const functionId = (fn: 'scheduler' | 'archiveWorker') =>
      logicalId(stack.functions[fn]?.function as never);
    /** Queues (logical ids) `fn`'s role may call `action` on. */
    const queuesAllowed = (fn: 'scheduler' | 'archiveWorker', action: string): string[] => {
      const fnResource = resources[functionId(fn)];
      if (!fnResource) throw new Error(`no function resource for ${fn}`);
      const role = (fnResource.Properties.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
      return Object.values(resources)
        .filter(
          (r) =>
            r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === role),
        )
        .flatMap(
          (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
        )
        .filter((st) => [st.Action].flat().includes(action))
        .flatMap((st) => [st.Resource].flat() as { 'Fn::GetAtt'?: [string, string] }[])
        .map((r) => r['Fn::GetAtt']?.[0])
        .filter((id): id is string => id !== undefined);
    };

    it('when the stack is built, then the archive worker is mapped to both queues with the same batch size and concurrency, as the local runner binds it', () => {
      const mappings = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::EventSourceMapping' &&
          r.Properties.FunctionName?.Ref === functionId('archiveWorker'),
      );
      const local = localTopology(inputs.config, inputs.config.amigo.rateLimits).functions.archiveWorker;

      expect(queuesOf(FUNCTIONS.archiveWorker)).toEqual(['archive', 'archivePriority']);
      expect(mappings.map((m) => m.Properties.EventSourceArn['Fn::GetAtt'][0]).sort()).toEqual(
        [queueId('archive'), queueId('archivePriority')].sort(),
      );
      for (const m of mappings) {
        expect(m.Properties.BatchSize).toBe(local.batchSize);
        expect(m.Properties.ScalingConfig.MaximumConcurrency).toBe(local.concurrency);
      }
    });

    it('when the stack is built, then the scheduler and the archive worker are told the priority queue and may send to it, and only the archive worker consumes it', () => {
      const url = { Ref: queueId('archivePriority') };
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: {
            [ENV.archivePriorityQueueUrl]: url,
            [ENV.archiveQueueUrl]: { Ref: queueId('archive') },
          },
        },
        Description: 'amigo-qa scheduler',
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: { [ENV.archivePriorityQueueUrl]: url } },
        Description: 'amigo-qa archive-worker',
      });

      expect(queuesAllowed('scheduler', 'sqs:SendMessage')).toContain(queueId('archivePriority'));
      expect(queuesAllowed('archiveWorker', 'sqs:SendMessage')).toContain(queueId('archivePriority'));
      expect(queuesAllowed('archiveWorker', 'sqs:ReceiveMessage').sort()).toEqual(
        [queueId('archive'), queueId('archivePriority')].sort(),
      );
      expect(queuesAllowed('scheduler', 'sqs:ReceiveMessage')).not.toContain(queueId('archivePriority'));
    });
  });
});
