// The synthesized template held against the code it deploys: numbers are computed from the
// template and compared with shared/contract/topology.ts and the handlers' own readers, not restated.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { METRIC } from '../../../shared/contract/metric-names.ts';
import {
  FUNCTIONS,
  type FunctionId,
  maxConcurrency,
  NIGHTLY_INPUT,
  STALL_SCAN_INPUT,
  VISIBILITY_TIMEOUT_FACTOR,
} from '../../../shared/contract/topology.ts';
import { createTestApp, nagFindings, removeTestOutdirs } from './cdk-test-app.ts';
import type { Cfn, TemplateResource } from './template-json.ts';

// Each test that synthesizes its own stack spends seconds of CPU in CDK: on 2 busy cores that can
// pass the 5 s default, which says nothing about the template.
vi.setConfig({ testTimeout: 30_000 });

const dirs: string[] = [];
afterAll(() => {
  removeTestOutdirs();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const env = { account: '123456789012', region: 'us-east-1' };

type Resource = TemplateResource;

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'amigo-qa-stack-'));
  dirs.push(dir);
  const path = join(dir, 'amigo-qa.yaml');
  writeFileSync(path, text);
  return path;
}

function synth(context: { config?: string; rules?: string } = {}) {
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', { env, inputs: loadDeploymentInputs(context) });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  // The queue-fed functions of the topology; the tables writer has its own schedule and tests.
  const tablesWriterId = stack.getLogicalId(stack.tablesWriter.function.node.defaultChild as never);
  const queueFed = () => ofType('AWS::Lambda::Function').filter(([id]) => id !== tablesWriterId);
  const functionIdOf = (logicalId: string): FunctionId => {
    const found = Object.entries(stack.functions).find(
      ([, f]) => stack.getLogicalId(f.function.node.defaultChild as never) === logicalId,
    );
    if (!found) throw new Error(`${logicalId} is not one of the stack's functions`);
    return found[0] as FunctionId;
  };
  return { stack, template, resources, ofType, queueFed, functionIdOf };
}

/** The metrics an alarm watches, whether written plainly or as a (single-metric) math expression. */
function watched(
  alarm: Resource,
): Array<{ MetricName: string; Namespace: string; Dimensions: Cfn[]; Period: number }> {
  const p = alarm.Properties;
  if (p.MetricName)
    return [
      { MetricName: p.MetricName, Namespace: p.Namespace, Dimensions: p.Dimensions ?? [], Period: p.Period },
    ];
  return (p.Metrics ?? [])
    .filter((m: Cfn) => m.MetricStat)
    .map((m: Cfn) => ({
      ...m.MetricStat.Metric,
      Dimensions: m.MetricStat.Metric.Dimensions ?? [],
      Period: m.MetricStat.Period,
    }));
}

const refOf = (value: unknown): string => {
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  const id = v.Ref ?? v['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`not a reference: ${JSON.stringify(value)}`);
  return id;
};

describe('AmigoQaStack with the example config and rules', () => {
  const s = synth({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });
  const { resources, ofType, template, stack } = s;
  const mappings = ofType('AWS::Lambda::EventSourceMapping');
  const functions = s.queueFed();
  const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });

  it('when synthesized, then the four functions run Node.js 24 on arm64 with the topology timeouts and memory', () => {
    expect(functions.map(([id]) => s.functionIdOf(id)).sort()).toEqual(
      ['archiveWorker', 'scheduler', 'stallWorker', 'tagWorker'].sort(),
    );
    for (const [id, fn] of functions) {
      const spec = FUNCTIONS[s.functionIdOf(id)];
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Timeout: spec.timeoutSeconds,
        MemorySize: spec.memoryMb,
      });
    }
  });

  it('when a queue feeds a function, then its visibility timeout is at least 6x that function timeout (from the template)', () => {
    // One per worker queue, and the archive worker's priority queue.
    expect(mappings).toHaveLength(5);
    for (const [, mapping] of mappings) {
      const fn = resources[refOf(mapping.Properties.FunctionName)] as Resource;
      const queue = resources[refOf(mapping.Properties.EventSourceArn)] as Resource;
      expect(queue.Type).toBe('AWS::SQS::Queue');
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
        VISIBILITY_TIMEOUT_FACTOR * fn.Properties.Timeout,
      );
    }
  });

  it('when a queue feeds a function, then it has a 14-day dead-letter queue whose redrive count is the MAX_RECEIVE_COUNT the workers read', () => {
    for (const [, mapping] of mappings) {
      const fn = resources[refOf(mapping.Properties.FunctionName)] as Resource;
      const queue = resources[refOf(mapping.Properties.EventSourceArn)] as Resource;
      const redrive = queue.Properties.RedrivePolicy;
      const dlq = resources[refOf(redrive.deadLetterTargetArn)] as Resource;
      expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 86_400);
      expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 86_400);
      expect(redrive.maxReceiveCount).toBe(inputs.config.run.maxReceiveCount);
      const maxReceive = fn.Properties.Environment.Variables.MAX_RECEIVE_COUNT;
      if (maxReceive !== undefined) expect(Number(maxReceive)).toBe(redrive.maxReceiveCount);
    }
  });

  it('when queues are created, then every one is encrypted with the customer-managed key and refuses plain HTTP', () => {
    const keyId = stack.getLogicalId(stack.key.node.defaultChild as never);
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(11);
    for (const [, q] of queues) expect(refOf(q.Properties.KmsMasterKeyId)).toBe(keyId);
    for (const [id] of queues) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('when workers consume their queues, then they report batch item failures with the topology batch sizes and a budget-derived concurrency', () => {
    const settings = {
      rateLimits: inputs.config.amigo.rateLimits,
      insightsConcurrency: inputs.config.archive.insightsConcurrency,
    };
    for (const [, mapping] of mappings) {
      const fn = s.functionIdOf(refOf(mapping.Properties.FunctionName));
      expect(mapping.Properties).toMatchObject({
        BatchSize: FUNCTIONS[fn].batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: maxConcurrency(fn, settings) },
      });
    }
    const scheduler = mappings.find(
      ([, m]) => s.functionIdOf(refOf(m.Properties.FunctionName)) === 'scheduler',
    );
    expect(scheduler?.[1].Properties.BatchSize).toBe(1);
  });

  it('when the nightly, hourly and stall-scan schedules fire, then they invoke the scheduler with retries and a dead-letter queue', () => {
    const schedulerArn = {
      'Fn::GetAtt': [
        stack.getLogicalId(stack.functions.scheduler?.function.node.defaultChild as never),
        'Arn',
      ],
    };
    const dlq = {
      'Fn::GetAtt': [stack.getLogicalId(stack.invocationFailures.node.defaultChild as never), 'Arn'],
    };
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({
        Arn: schedulerArn,
        Input: JSON.stringify(NIGHTLY_INPUT),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: dlq },
      }),
    });
    // Every hour but the nightly one (02:00), listing back the default hourly lookback (1d).
    const everyHourButTwo = [0, 1, ...Array.from({ length: 21 }, (_, i) => i + 3)].join(',');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: `cron(0 ${everyHourButTwo} * * ? *)`,
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({
        Arn: schedulerArn,
        Input: JSON.stringify({ tasks: ['archive'], lookback: '1d' }),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }),
        DeadLetterConfig: { Arn: dlq },
      }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      Target: Match.objectLike({
        Arn: schedulerArn,
        Input: JSON.stringify(STALL_SCAN_INPUT),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }),
        DeadLetterConfig: { Arn: dlq },
      }),
    });
  });

  it('when an alarm fires, then it notifies the alarm topic; every dead-letter queue and function has its alarms', () => {
    const topicRef = { Ref: stack.getLogicalId(stack.alarmTopic.node.defaultChild as never) };
    const alarms = ofType('AWS::CloudWatch::Alarm');
    for (const [, alarm] of alarms) expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
    const dimensionsOf = (metricName: string) =>
      alarms.flatMap(([, a]) =>
        watched(a)
          .filter((m) => m.MetricName === metricName)
          .flatMap((m) => m.Dimensions),
      );
    const watchedQueues = dimensionsOf('ApproximateNumberOfMessagesVisible')
      .filter((d) => d.Name === 'QueueName')
      .map((d) => refOf(d.Value));
    const deadLetterQueues = [
      ...Object.values(stack.queues).map((q) => q.deadLetterQueue),
      stack.invocationFailures,
    ].map((q) => stack.getLogicalId(q.node.defaultChild as never));
    for (const dlq of deadLetterQueues) expect(watchedQueues).toContain(dlq);
    for (const [, a] of alarms.filter(
      ([, a]) => watched(a)[0]?.MetricName === 'ApproximateNumberOfMessagesVisible',
    )) {
      expect(a.Properties).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
    }
    const archiveQueue = stack.getLogicalId(stack.queues.archive?.queue.node.defaultChild as never);
    const age = alarms.find(([, a]) => watched(a)[0]?.MetricName === 'ApproximateAgeOfOldestMessage');
    expect(age?.[1].Properties.Threshold).toBe(6 * 3600);
    expect(watched(age?.[1] as Resource)[0]?.Dimensions).toEqual([
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [archiveQueue, 'QueueName'] } },
    ]);
    for (const [id] of functions) {
      for (const metric of ['Errors', 'Throttles']) {
        expect(dimensionsOf(metric)).toContainEqual({ Name: 'FunctionName', Value: { Ref: id } });
      }
    }
  });

  it('when no listing completes for 26 hours, then the freshness alarm fires, missing data included', () => {
    const [[, freshness] = []] = ofType('AWS::CloudWatch::Alarm').filter(
      ([, a]) => watched(a)[0]?.MetricName === METRIC.listingsCompleted,
    );
    expect(freshness && watched(freshness)).toEqual([
      {
        MetricName: METRIC.listingsCompleted,
        Namespace: 'AmigoQa',
        Dimensions: [{ Name: 'service', Value: 'amigo-qa' }],
        Period: 3600,
      },
    ]);
    expect(freshness?.Properties).toMatchObject({
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
  });

  it('when the archive is created, then it is SSE-KMS with the rotating key, expires noncurrent versions and stays on removal', () => {
    const keyId = stack.getLogicalId(stack.key.node.defaultChild as never);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const archiveId = stack.getLogicalId(stack.archive.bucket.node.defaultChild as never);
    const archive = resources[archiveId] as Resource;
    expect(archive.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]).toMatchObject({
      ServerSideEncryptionByDefault: {
        SSEAlgorithm: 'aws:kms',
        KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
      },
      BucketKeyEnabled: true,
    });
    expect(archive.Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } }),
      ]),
    );
    expect(archive.Properties.ObjectLockEnabled).toBeUndefined();
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  it('when alarms publish to the encrypted topic and logs are encrypted, then the key policy lets CloudWatch and CloudWatch Logs use the key', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'logs.us-east-1.amazonaws.com' },
            Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    const topic = stack.alarmTopic.node.defaultChild as never;
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [stack.getLogicalId(stack.key.node.defaultChild as never), 'Arn'] },
    });
    expect(stack.getLogicalId(topic)).toBeTruthy();
    for (const [, group] of ofType('AWS::Logs::LogGroup')) expect(group.Properties.KmsKeyId).toBeDefined();
  });

  it('when the secret is created, then the template holds no credential, only a placeholder to be replaced', () => {
    const [[, secret] = []] = ofType('AWS::SecretsManager::Secret');
    expect(secret?.Properties.SecretString).toBeUndefined();
    expect(JSON.parse(secret?.Properties.GenerateSecretString.SecretStringTemplate)).not.toHaveProperty(
      'AMIGO_API_KEY',
    );
  });

  it('when the rate budget table is created, then it follows the adapter schema: on demand, pk, TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('when deployed, then the outputs name the bucket, queues, dead-letter queues, table, secret and functions', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ArchiveBucketName',
        'SecretArn',
        'RateBudgetTableName',
        'AlarmTopicArn',
        'ArchiveQueueUrl',
        'ArchiveDeadLetterQueueUrl',
        'TagQueueUrl',
        'StallDeadLetterQueueUrl',
        'SchedulerQueueUrl',
        'SchedulerFunctionName',
        'ArchiveWorkerFunctionName',
        'TagWorkerFunctionName',
        'StallWorkerFunctionName',
        'DashboardUrl',
      ]),
    );
  });
});

describe('AmigoQaStack shaped by the config', () => {
  it('when no rules file is configured, then there is no tag queue or tag worker and the archive worker sends no tag jobs', () => {
    const { ofType, queueFed, stack } = synth({ config: 'examples/amigo-qa.yaml' });
    expect(stack.functions.tagWorker).toBeUndefined();
    expect(stack.queues.tag).toBeUndefined();
    expect(queueFed()).toHaveLength(3);
    const archiveWorker = stack.functions.archiveWorker?.function.node.defaultChild as never;
    const [, fn] =
      ofType('AWS::Lambda::Function').find(([id]) => id === stack.getLogicalId(archiveWorker)) ?? [];
    expect(fn?.Properties.Environment.Variables).not.toHaveProperty('TAG_QUEUE_URL');
  });

  it('when deploy settings are given, then the schedule, alarm e-mail, lifecycle, Object Lock and log retention follow them', () => {
    const config = configFile(
      [
        'run: { maxReceiveCount: 7 }',
        'archive: { hourlyLookback: 12h }',
        'deploy:',
        '  nightlyAt: "03:30"',
        '  timezone: Europe/Berlin',
        '  stallScanEvery: null',
        '  archiveEvery: 5h',
        '  alarmEmail: qa@example.com',
        '  logRetention: 90d',
        '  archive:',
        '    transitions: [{ after: 90d, storageClass: GLACIER_IR }]',
        '    noncurrentVersionsExpireAfter: 7d',
        '    objectLock: { mode: GOVERNANCE, retention: 365d }',
      ].join('\n'),
    );
    const { template, ofType } = synth({ config });

    // The nightly run, the archive runs every 5 hours after it, the tables writer's rounds; no stall scan.
    template.resourceCountIs('AWS::Scheduler::Schedule', 3);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 8,13,18,23 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({ Input: JSON.stringify({ tasks: ['archive'], lookback: '12h' }) }),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'qa@example.com',
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 365 } },
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
          Match.objectLike({ Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }] }),
        ]),
      },
    });
    for (const [, group] of ofType('AWS::Logs::LogGroup')) expect(group.Properties.RetentionInDays).toBe(90);
    for (const [, q] of ofType('AWS::SQS::Queue').filter(([, q]) => q.Properties.RedrivePolicy)) {
      expect(q.Properties.RedrivePolicy.maxReceiveCount).toBe(7);
    }
  });

  it('when an existing secret is named, then the stack creates none and the functions read that one', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:amigo-qa-AbCdEf';
    const { template, queueFed } = synth({ config: configFile(`deploy: { secretArn: "${arn}" }\n`) });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    for (const [, fn] of queueFed()) {
      expect(fn.Properties.Environment.Variables.AMIGO_SECRET_ARN).toBe(arn);
    }
  });
});

describe('cdk-nag', () => {
  it('when the whole pipeline is synthesized with rules, then AwsSolutions and HIPAA Security find nothing unacknowledged', () => {
    const app = createTestApp({ nag: true, hipaa: true });
    new AmigoQaStack(app, 'AmigoQa', {
      env,
      inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' }),
    });
    expect(nagFindings(app)).toEqual([]);
  });

  it('when every acknowledgement is listed, then each names its rule and gives a reason', () => {
    const app = createTestApp({ nag: true, hipaa: true });
    const stack = new AmigoQaStack(app, 'AmigoQa', {
      env,
      inputs: loadDeploymentInputs({ rules: 'examples/rules.yaml' }),
    });
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [rule, reason] of acknowledged) {
      expect(rule).toMatch(/^Annotation::(AwsSolutions|HIPAA\.Security)-[A-Za-z0-9]+/);
      expect(reason.length).toBeGreaterThan(80);
    }
  });

  it('when a finding is not acknowledged, then synthesis fails (the check is live)', () => {
    const app = createTestApp({ nag: true, hipaa: true });
    new Bucket(new Stack(app, 'Bare'), 'Bucket');
    expect(nagFindings(app)).toEqual(
      expect.arrayContaining([
        'AwsSolutions-S1 Bare/Bucket/Resource',
        'AwsSolutions-S10 Bare/Bucket/Resource',
      ]),
    );
  });
});
