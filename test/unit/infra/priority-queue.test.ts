// The priority archive queue in the template: its own event source mapping on the archive worker
// (so its jobs never wait behind the main queue's backlog), the same numbers as the main one and
// as the local runner's, and the permissions to send to it and consume it, nothing more.
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { localTopology } from '../../../local/pipeline.ts';
import { ENV, FUNCTIONS, queuesOf } from '../../../shared/contract/topology.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import { resourcesOf } from './template-json.ts';

afterAll(removeTestOutdirs);

describe('the priority archive queue', () => {
  const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs,
  });
  const template = Template.fromStack(stack);
  const resources = resourcesOf(template);
  const logicalId = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as never);
  const queueId = (q: 'archive' | 'archivePriority') => logicalId(stack.queues[q]?.queue as never);
  const functionId = (fn: 'scheduler' | 'archiveWorker') => logicalId(stack.functions[fn]?.function as never);
  /** Queues (logical ids) `fn`'s role may call `action` on. */
  const queuesAllowed = (fn: 'scheduler' | 'archiveWorker', action: string): string[] => {
    const role = (resources[functionId(fn)]?.Properties.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
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
        Variables: { [ENV.archivePriorityQueueUrl]: url, [ENV.archiveQueueUrl]: { Ref: queueId('archive') } },
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
