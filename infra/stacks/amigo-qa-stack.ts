import { fileURLToPath } from 'node:url';
import {
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  TimeZone,
  Validations,
} from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type CfnBucket, ObjectLockRetention, StorageClass } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { formatDuration } from '../../shared/config/grammar.ts';
import { DEPLOYMENT_CONSTANT } from '../../shared/contract/deployment.ts';
import { rateBudgetTableSchema } from '../../shared/contract/rate-budget-table.ts';
import {
  ENV,
  type EnvName,
  FUNCTION_IDS,
  FUNCTIONS,
  type FunctionId,
  maxConcurrency,
  NIGHTLY_INPUT,
  QUEUE_IDS,
  type QueueId,
  queueSettings,
  queuesOf,
  STALL_SCAN_INPUT,
  TABLES_WRITER,
  TABLES_WRITER_INPUT,
} from '../../shared/contract/topology.ts';
import { AmigoFunction } from '../constructs/amigo-function.ts';
import { ArchiveBucket, type ArchiveBucketProps } from '../constructs/archive-bucket.ts';
import { PipelineMonitoring } from '../constructs/pipeline-monitoring.ts';
import { QueryTables } from '../constructs/query-tables.ts';
import { WorkQueue } from '../constructs/work-queue.ts';
import { type DeploymentInputs, deploymentDocument, loadDeploymentInputs } from '../deployment-inputs.ts';

export interface AmigoQaStackProps extends StackProps {
  /**
   * The operator's config and rules, validated (`-c config=<file> -c rules=<file>`, read by
   * infra/deployment-inputs.ts). The config's `deploy:` section shapes the stack.
   * @default every config default and no rules (no tag worker)
   */
  readonly inputs?: DeploymentInputs;
  /**
   * Archive bucket settings that win over the ones the config implies (encryption key, lifecycle,
   * Object Lock).
   * @default - from the config's `deploy.archive`, encrypted with the stack's key
   */
  readonly archive?: ArchiveBucketProps;
  /**
   * The SQL tables (Glue and Athena, docs/query.md).
   * @default no organisation named: `org` is an injected partition (every query must filter on it)
   */
  readonly tables?: TablesProps;
}

export interface TablesProps {
  /**
   * The Amigo organisations archived (`-c organization=<id>[,<id>]`): the values of the `org`
   * partition that Athena projects, so queries need not name one.
   */
  readonly organizationIds?: readonly string[];
  /**
   * The first `date` partition Athena projects (yyyy-MM-dd, or relative like NOW-5YEARS).
   * @default the config's `archive.since` day, else NOW-5YEARS
   */
  readonly firstDay?: string;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const pascal = (id: string) => id[0]?.toUpperCase() + id.slice(1);

/**
 * The whole amigo-qa pipeline: the archive bucket, the four functions (scheduler, archive, tag and
 * stall workers) fed by their queues, the shared rate-budget table, the Amigo credentials secret,
 * the nightly and stall-scan schedules, and alarms with a dashboard. Shapes and numbers come from
 * shared/contract/topology.ts, the same definition the local runner uses.
 */
export class AmigoQaStack extends Stack {
  readonly key: Key;
  readonly archive: ArchiveBucket;
  readonly queues: Readonly<Partial<Record<QueueId, WorkQueue>>>;
  /** Where failed schedule invocations (and the scheduler's failed async invocations) go. */
  readonly invocationFailures: Queue;
  readonly table: Table;
  readonly secret: ISecret;
  readonly functions: Readonly<Partial<Record<FunctionId, AmigoFunction>>>;
  readonly alarmTopic: Topic;
  readonly monitoring: PipelineMonitoring;
  /** Writes the Parquet parts of recent runs on its own schedule (TABLES_WRITER). */
  readonly tablesWriter: AmigoFunction;
  /** The Glue tables over those parts, the Athena workgroup and the named queries. */
  readonly queryTables: QueryTables;

  constructor(scope: Construct, id: string, props: AmigoQaStackProps = {}) {
    super(scope, id, props);
    const inputs = props.inputs ?? loadDeploymentInputs({});
    Validations.of(this).acknowledge({
      id: 'HIPAA.Security-IAMNoInlinePolicy',
      reason:
        'Every role here belongs to one function (or to the schedule) and its policy is a CloudFormation-managed AWS::IAM::Policy bound to that role alone, written action by action; a customer-managed policy would add a reusable object without narrowing any permission.',
    });
    const { config } = inputs;
    const { deploy } = config;

    // One customer-managed key for everything that holds conversation data or credentials: the
    // archive, the queues (stall jobs carry the agent's last message), the secret, the logs.
    this.key = new Key(this, 'DataKey', {
      description: 'amigo-qa: conversation data (archive, queues, credentials, logs)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchLogsEncryptTheFunctionLogs',
        principals: [new ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*`,
          },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    this.archive = new ArchiveBucket(this, 'Archive', {
      encryptionKey: this.key,
      lifecycleRules: [
        {
          id: 'expire-noncurrent-versions',
          enabled: true,
          noncurrentVersionExpiration: Duration.days(deploy.archive.noncurrentVersionExpiryDays),
          expiredObjectDeleteMarker: true,
        },
        ...(deploy.archive.transitions.length > 0
          ? [
              {
                id: 'transitions',
                enabled: true,
                transitions: deploy.archive.transitions.map((t) => ({
                  storageClass: new StorageClass(t.storageClass),
                  transitionAfter: Duration.days(t.afterDays),
                })),
              },
            ]
          : []),
      ],
      ...(deploy.archive.objectLock
        ? {
            objectLockDefaultRetention:
              deploy.archive.objectLock.mode === 'COMPLIANCE'
                ? ObjectLockRetention.compliance(Duration.days(deploy.archive.objectLock.retentionDays))
                : ObjectLockRetention.governance(Duration.days(deploy.archive.objectLock.retentionDays)),
          }
        : {}),
      ...props.archive,
    });
    const bucket = this.archive.bucket;

    const hasRules = inputs.rules !== undefined;
    const maxReceiveCount = config.run.maxReceiveCount;
    const queues: Partial<Record<QueueId, WorkQueue>> = {};
    for (const queue of QUEUE_IDS) {
      if (queue === 'tag' && !hasRules) continue;
      queues[queue] = new WorkQueue(this, `${pascal(queue)}Queue`, {
        settings: queueSettings(queue, maxReceiveCount),
        encryptionKey: this.key,
      });
    }
    this.queues = queues;
    const work = (queue: QueueId): WorkQueue => {
      const q = queues[queue];
      if (!q) throw new Error(`The ${queue} queue is not part of this deployment`);
      return q;
    };

    this.invocationFailures = new Queue(this, 'InvocationFailures', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.invocationFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: EventBridge Scheduler puts schedule invocations it could not deliver here, and Lambda the failed asynchronous invocations of the scheduler.',
    });

    this.table = new Table(this, 'RateBudget', {
      partitionKey: {
        name: rateBudgetTableSchema.partitionKey.name,
        type: AttributeType.STRING,
      },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: rateBudgetTableSchema.timeToLiveAttribute,
      // Slots of the last hour and nothing else: nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const rule of [
      'AwsSolutions-DDB3',
      'HIPAA.Security-DynamoDBPITREnabled',
      'HIPAA.Security-DynamoDBInBackupPlan',
    ]) {
      Validations.of(this.table).acknowledge({
        id: rule,
        reason:
          'The table holds only rate-limit slots (start times of Amigo calls) that expire within an hour; a restore or backup would bring back nothing of value.',
      });
    }

    this.secret = deploy.secretArn
      ? Secret.fromSecretCompleteArn(this, 'AmigoCredentials', deploy.secretArn)
      : new Secret(this, 'AmigoCredentials', {
          description:
            'amigo-qa: AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (JSON). Created without them: put them with the command in docs/deploy.md.',
          encryptionKey: this.key,
          // No credential is ever part of the template: the value is a placeholder until an
          // operator puts the real JSON (the functions then name each missing key).
          generateSecretString: {
            secretStringTemplate: JSON.stringify({ note: 'Put the AMIGO_* values: see docs/deploy.md' }),
            generateStringKey: 'placeholder',
          },
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (this.secret instanceof Secret) {
      Validations.of(this.secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Amigo API keys are issued in the Amigo dashboard and cannot be created by a rotation function; docs/deploy.md describes rotating them by hand (put the new value; functions read it at their next cold start).',
      });
      Validations.of(this.secret).acknowledge({
        id: 'HIPAA.Security-SecretsManagerRotationEnabled',
        reason:
          'Amigo API keys are issued in the Amigo dashboard and cannot be created by a rotation function; docs/deploy.md describes rotating them by hand.',
      });
    }

    // What each function's environment holds, by variable (the topology says which it reads).
    const envValues: Record<EnvName, string | undefined> = {
      [ENV.archiveBucket]: bucket.bucketName,
      [ENV.archivePrefix]: undefined,
      [ENV.rateBudgetTable]: this.table.tableName,
      [ENV.amigoSecretArn]: this.secret.secretArn,
      [ENV.maxReceiveCount]: String(maxReceiveCount),
      [ENV.schedulerQueueUrl]: work('scheduler').queue.queueUrl,
      [ENV.archiveQueueUrl]: work('archive').queue.queueUrl,
      [ENV.archivePriorityQueueUrl]: work('archivePriority').queue.queueUrl,
      [ENV.archiveDlqUrl]: work('archive').deadLetterQueue.queueUrl,
      [ENV.tagQueueUrl]: queues.tag?.queue.queueUrl,
      [ENV.tagDlqUrl]: queues.tag?.deadLetterQueue.queueUrl,
      [ENV.stallQueueUrl]: work('stall').queue.queueUrl,
      [ENV.stallDlqUrl]: work('stall').deadLetterQueue.queueUrl,
    };

    const settings = {
      rateLimits: config.amigo.rateLimits,
      insightsConcurrency: config.archive.insightsConcurrency,
    };
    const functions: Partial<Record<FunctionId, AmigoFunction>> = {};
    for (const fn of FUNCTION_IDS) {
      if (fn === 'tagWorker' && !hasRules) continue;
      const spec = FUNCTIONS[fn];
      const environment: Record<string, string> = {};
      for (const name of spec.env.required) {
        const value = envValues[name];
        if (value === undefined)
          throw new Error(`${spec.name} needs ${name}, which this stack does not provide`);
        environment[name] = value;
      }
      for (const name of spec.env.optional) {
        const value = envValues[name];
        if (value !== undefined) environment[name] = value;
      }
      const created = new AmigoFunction(this, pascal(fn), {
        entry: `${REPO_ROOT}${spec.entry}`,
        description: `amigo-qa ${spec.name}`,
        timeout: Duration.seconds(spec.timeoutSeconds),
        memorySize: spec.memoryMb,
        environment,
        logGroupRetention: deploy.logRetentionDays as RetentionDays,
        logGroupEncryptionKey: this.key,
        bundling: {
          define: { [DEPLOYMENT_CONSTANT]: JSON.stringify(deploymentDocument(inputs, fn)) },
        },
      });
      acknowledgeFunctionFindings(created, spec.queue !== 'scheduler');
      // The priority queue has a mapping (and so pollers and concurrency) of its own: its jobs never
      // wait behind the backlog of the main queue.
      for (const [queue, id] of queuesOf(spec).map(
        (q, i) => [q, i === 0 ? 'Queue' : 'PriorityQueue'] as const,
      )) {
        created.function.addEventSourceMapping(id, {
          eventSourceArn: work(queue).queue.queueArn,
          batchSize: spec.batchSize,
          reportBatchItemFailures: true,
          maxConcurrency: maxConcurrency(fn, settings),
        });
      }
      functions[fn] = created;
    }
    this.functions = functions;
    const fn = (id: FunctionId): AmigoFunction => {
      const f = functions[id];
      if (!f) throw new Error(`The ${id} function is not part of this deployment`);
      return f;
    };

    this.grantLeastPrivilege(fn, work, functions);

    this.tablesWriter = new AmigoFunction(this, 'TablesWriter', {
      entry: `${REPO_ROOT}${TABLES_WRITER.entry}`,
      description: `amigo-qa ${TABLES_WRITER.name}`,
      timeout: Duration.seconds(TABLES_WRITER.timeoutSeconds),
      memorySize: TABLES_WRITER.memoryMb,
      environment: Object.fromEntries(
        [...TABLES_WRITER.env.required, ...TABLES_WRITER.env.optional].flatMap((name) => {
          const value = envValues[name];
          return value === undefined ? [] : [[name, value]];
        }),
      ),
      logGroupRetention: deploy.logRetentionDays as RetentionDays,
      logGroupEncryptionKey: this.key,
    });
    Validations.of(this.tablesWriter.function).acknowledge({
      id: 'HIPAA.Security-LambdaInsideVPC',
      reason:
        'The function reads and writes the archive bucket through the S3 endpoint only; no resource of the stack lives in a VPC, and a VPC would add endpoints or NAT gateways without keeping any traffic off AWS.',
    });
    Validations.of(this.tablesWriter.function).acknowledge({
      id: 'HIPAA.Security-LambdaConcurrency',
      reason:
        'Only its schedule invokes it, once every few hours (TABLES_WRITER in shared/contract/topology.ts), so it runs one at a time; reserved concurrency would take from the account pool and fails deploys in accounts with the default quota of 10.',
    });
    this.grantTablesWriter(this.tablesWriter);
    this.queryTables = new QueryTables(this, 'Tables', {
      archive: bucket,
      organizationIds: props.tables?.organizationIds ?? [],
      firstDay: props.tables?.firstDay ?? config.archive.since?.slice(0, 10) ?? 'NOW-5YEARS',
      encryptionKey: this.key,
      accessLogsBucket: this.archive.accessLogsBucket,
    });

    // The scheduler's failed asynchronous invocations (after Lambda's own two retries) are kept.
    const schedulerFn = fn('scheduler').function;
    // So are the tables writer's (its schedule invokes it asynchronously too).
    for (const f of [fn('scheduler'), this.tablesWriter]) {
      (f.function.node.defaultChild as CfnFunction).deadLetterConfig = {
        targetArn: this.invocationFailures.queueArn,
      };
      allow(
        f.role,
        'AsyncFailuresToDeadLetterQueue',
        ['sqs:SendMessage'],
        [this.invocationFailures.queueArn],
      );
    }

    // The role EventBridge Scheduler invokes with: its own, so it may also use the key that
    // encrypts the dead-letter queue (the target construct grants the invoke and the send).
    const invoker = new Role(this, 'ScheduleInvoker', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'amigo-qa: EventBridge Scheduler invokes the scheduler and tables writer functions',
    });
    allow(invoker, 'EncryptedDeadLetterQueue', ['kms:GenerateDataKey', 'kms:Decrypt'], [this.key.keyArn]);
    for (const invoked of [schedulerFn, this.tablesWriter.function]) {
      Validations.of(invoker).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(invoked.node.defaultChild as CfnFunction)}.Arn>:*]`,
        reason:
          "Written by CDK's LambdaInvoke schedule target (grantInvoke covers the function's versions and aliases); this role can invoke nothing but the scheduler and tables writer functions.",
      });
    }
    const target = (input: object, invoked = schedulerFn) =>
      new LambdaInvoke(invoked, {
        role: invoker,
        input: ScheduleTargetInput.fromObject(input),
        retryAttempts: 3,
        maxEventAge: Duration.hours(2),
        deadLetterQueue: this.invocationFailures,
      });
    const zone = TimeZone.of(deploy.nightly.timezone);
    new Schedule(this, 'Nightly', {
      description: `amigo-qa nightly run at ${String(deploy.nightly.hour).padStart(2, '0')}:${String(deploy.nightly.minute).padStart(2, '0')} ${deploy.nightly.timezone}`,
      schedule: ScheduleExpression.cron({
        minute: String(deploy.nightly.minute),
        hour: String(deploy.nightly.hour),
        timeZone: zone,
      }),
      target: target(NIGHTLY_INPUT),
    });
    // Archive runs between nightly ones, on the nightly run's hour grid (never in its hour: two
    // listings at once only double the work), listing back the shorter hourly lookback.
    if (deploy.archiveEveryHours !== null) {
      const every = deploy.archiveEveryHours;
      const hours = Array.from(
        { length: Math.ceil(24 / every) - 1 },
        (_, k) => (deploy.nightly.hour + (k + 1) * every) % 24,
      );
      const lookback = formatDuration(config.archive.hourlyLookbackMs);
      new Schedule(this, 'ArchiveBetweenNights', {
        description: `amigo-qa archive run every ${every} h between nightly runs, listing back ${lookback}`,
        schedule: ScheduleExpression.cron({
          minute: String(deploy.nightly.minute),
          hour: hours.sort((a, b) => a - b).join(','),
          timeZone: zone,
        }),
        target: target({ tasks: ['archive'], lookback }),
      });
    }
    if (deploy.stallScanEveryMs !== null) {
      new Schedule(this, 'StallScan', {
        description: 'amigo-qa stall-only scan between nightly runs',
        schedule: ScheduleExpression.rate(
          Duration.minutes(Math.max(1, Math.round(deploy.stallScanEveryMs / 60_000))),
        ),
        target: target(STALL_SCAN_INPUT),
      });
    }
    // The tables of a night fill in as its jobs finish over hours: see TABLES_WRITER.
    new Schedule(this, 'TablesRounds', {
      description: `amigo-qa tables writer: the Parquet parts of runs of the last ${TABLES_WRITER.lookbackHours} h, every ${TABLES_WRITER.everyHours} h`,
      schedule: ScheduleExpression.rate(Duration.hours(TABLES_WRITER.everyHours)),
      target: target(TABLES_WRITER_INPUT, this.tablesWriter.function),
    });

    this.alarmTopic = new Topic(this, 'Alarms', {
      displayName: 'amigo-qa alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (deploy.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(deploy.alarmEmail));
    this.monitoring = new PipelineMonitoring(this, 'Monitoring', {
      topic: this.alarmTopic,
      functions: [
        ...(Object.entries(functions) as [FunctionId, AmigoFunction][]).map(([id, f]) => ({
          name: FUNCTIONS[id].name,
          function: f.function,
        })),
        { name: TABLES_WRITER.name, function: this.tablesWriter.function },
      ],
      queues: Object.entries(queues).map(([name, q]) => ({
        name,
        queue: q.queue,
        deadLetterQueue: q.deadLetterQueue,
        ...(name === 'archive' || name === 'archivePriority'
          ? { maxAge: Duration.millis(deploy.maxArchiveJobAgeMs) }
          : {}),
      })),
      deadLetterQueues: [{ name: 'schedule-invocation-failures', queue: this.invocationFailures }],
    });

    this.outputs();
  }

  /**
   * Each function's permissions, written out action by action: no `grant*` helper, whose wildcards
   * (s3:GetObject*, kms:ReEncrypt*) would grant more than the code uses. The least-privilege test
   * (test/integration/least-privilege.test.ts) records every AWS call the handlers make and holds
   * these statements to it, both ways.
   */
  private grantLeastPrivilege(
    fn: (id: FunctionId) => AmigoFunction,
    work: (queue: QueueId) => WorkQueue,
    functions: Partial<Record<FunctionId, AmigoFunction>>,
  ): void {
    const bucket = this.archive.bucket;
    const bucketToken = `<${this.getLogicalId(bucket.node.defaultChild as CfnBucket)}.Arn>`;
    // Object keys carry the organisation, day and conversation id: a role can be held to a key
    // pattern of the archive layout (docs/archive-format.md), never to a list of keys.
    const objects =
      (role: IRole) =>
      (...patterns: string[]) => {
        for (const pattern of patterns) {
          Validations.of(role).acknowledge({
            id: `AwsSolutions-IAM5[Resource::${bucketToken}/${pattern}]`,
            reason: `Archive keys under ${pattern.split('/')[0]}/ name the organisation, day and conversation; the pattern follows the archive layout (docs/archive-format.md) and the least-privilege test holds it to the keys the handlers use.`,
          });
        }
        return patterns.map((p) => bucket.arnForObjects(p));
      };
    const keyArn = this.key.keyArn;

    for (const [id, f] of Object.entries(functions) as [FunctionId, AmigoFunction][]) {
      const role = f.role;
      const spec = FUNCTIONS[id];
      allow(role, 'ReadAmigoCredentials', ['secretsmanager:GetSecretValue'], [this.secret.secretArn]);
      allow(role, 'SharedRateBudget', ['dynamodb:GetItem', 'dynamodb:PutItem'], [this.table.tableArn]);
      // A missing key answers 404 only to a role that may list the bucket (403 otherwise, which
      // the code rightly treats as permanent).
      allow(role, 'ListArchive', ['s3:ListBucket'], [bucket.bucketArn]);
      // Decrypt: reading the archive, the secret, received messages; GenerateDataKey: writing the
      // archive, sending messages (SSE-KMS, one key).
      allow(role, 'UseDataKey', ['kms:Decrypt', 'kms:GenerateDataKey'], [keyArn]);
      // What Lambda's event source mapping does with this role on the function's own queue.
      allow(
        role,
        'ConsumeOwnQueue',
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        queuesOf(spec).map((q) => work(q).queue.queueArn),
      );
    }

    const scheduler = fn('scheduler').role;
    allow(
      scheduler,
      'SendJobs',
      ['sqs:SendMessage'],
      [
        work('archive').queue.queueArn,
        work('archivePriority').queue.queueArn,
        work('scheduler').queue.queueArn,
        work('stall').queue.queueArn,
      ],
    );
    allow(
      scheduler,
      'ReadArchiveState',
      ['s3:GetObject'],
      // Whether a conversation is archived is listed (ListBucket), not read: no conversation object.
      objects(scheduler)('state/*', 'runs/*', 'stalled/*'),
    );
    allow(
      scheduler,
      'WriteArchiveState',
      ['s3:PutObject'],
      objects(scheduler)('state/*', 'runs/*', 'stalled/*/checked.json'),
    );

    const archiveWorker = fn('archiveWorker').role;
    allow(
      archiveWorker,
      'SendJobs',
      ['sqs:SendMessage'],
      [
        work('archive').queue.queueArn,
        work('archivePriority').queue.queueArn,
        work('archive').deadLetterQueue.queueArn,
        ...(this.queues.tag ? [this.queues.tag.queue.queueArn] : []),
      ],
    );
    allow(archiveWorker, 'ReadConversations', ['s3:GetObject'], objects(archiveWorker)('conversations/*'));
    allow(
      archiveWorker,
      'WriteConversations',
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      objects(archiveWorker)('conversations/*'),
    );
    allow(archiveWorker, 'WriteRunOutcomes', ['s3:PutObject'], objects(archiveWorker)('runs/*'));
    // What a delivery that ran out of time staged for the next one, removed after the commit.
    allow(
      archiveWorker,
      'ClearStaging',
      ['s3:DeleteObject'],
      objects(archiveWorker)('conversations/*/_staging/*'),
    );
    // Cleared once archived; the reason recorded when dead-lettered.
    allow(
      archiveWorker,
      'PendingMarkers',
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      objects(archiveWorker)('state/*/pending/*'),
    );

    const tagWorker = functions.tagWorker?.role;
    if (tagWorker) {
      allow(
        tagWorker,
        'SendJobs',
        ['sqs:SendMessage'],
        [work('tag').queue.queueArn, work('tag').deadLetterQueue.queueArn],
      );
      allow(tagWorker, 'ReadConversations', ['s3:GetObject'], objects(tagWorker)('conversations/*'));
      allow(
        tagWorker,
        'WriteTagDecisions',
        ['s3:PutObject'],
        objects(tagWorker)('conversations/*/tags.json'),
      );
      // The Amigo calls each invocation made for a run (runs/<run-id>/usage/).
      allow(tagWorker, 'WriteRunUsage', ['s3:PutObject'], objects(tagWorker)('runs/*/usage/*'));
    }

    const stallWorker = fn('stallWorker').role;
    allow(stallWorker, 'WriteRunUsage', ['s3:PutObject'], objects(stallWorker)('runs/*/usage/*'));
    allow(
      stallWorker,
      'SendJobs',
      ['sqs:SendMessage'],
      [work('stall').queue.queueArn, work('stall').deadLetterQueue.queueArn],
    );
    allow(
      stallWorker,
      'StallRecords',
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      objects(stallWorker)('stalled/*'),
    );
  }

  /**
   * The tables writer reads a run's record, its outcome records, the committed folders they name
   * and the stall records, and writes (and replaces, and removes) parts under tables/ only.
   */
  private grantTablesWriter(writer: AmigoFunction): void {
    const bucket = this.archive.bucket;
    const bucketToken = `<${this.getLogicalId(bucket.node.defaultChild as CfnBucket)}.Arn>`;
    const role = writer.role;
    const objects = (...patterns: string[]) => {
      for (const pattern of patterns) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${bucketToken}/${pattern}]`,
          reason: `Archive keys under ${pattern.split('/')[0]}/ name the run, organisation, day and conversation; the pattern follows the archive layout (docs/archive-format.md) and the tables layout (docs/query.md).`,
        });
      }
      return patterns.map((p) => bucket.arnForObjects(p));
    };
    allow(role, 'ListArchive', ['s3:ListBucket'], [bucket.bucketArn]);
    allow(role, 'UseDataKey', ['kms:Decrypt', 'kms:GenerateDataKey'], [this.key.keyArn]);
    // The folders' JSON documents only: never a recording (conversations/*/audio/*).
    allow(
      role,
      'ReadArchive',
      ['s3:GetObject'],
      objects('runs/*', 'conversations/*.json', 'conversations/*.jsonl', 'stalled/*'),
    );
    allow(
      role,
      'WriteTables',
      ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
      objects('tables/*'),
    );
  }

  private outputs(): void {
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('ArchiveBucketName', this.archive.bucket.bucketName, 'S3 bucket that archives Amigo conversations');
    out(
      'SecretArn',
      this.secret.secretArn,
      'Secrets Manager secret for the AMIGO_* credentials (put them: docs/deploy.md)',
    );
    out('RateBudgetTableName', this.table.tableName, 'DynamoDB table of the shared Amigo rate budget');
    out('AlarmTopicArn', this.alarmTopic.topicArn, 'SNS topic every alarm notifies');
    out('InvocationFailuresQueueUrl', this.invocationFailures.queueUrl, 'Schedule invocations that failed');
    for (const [id, q] of Object.entries(this.queues) as [QueueId, WorkQueue][]) {
      out(`${pascal(id)}QueueUrl`, q.queue.queueUrl, `The ${id} queue`);
      out(
        `${pascal(id)}DeadLetterQueueUrl`,
        q.deadLetterQueue.queueUrl,
        `The ${id} queue's dead-letter queue`,
      );
    }
    for (const [id, f] of Object.entries(this.functions) as [FunctionId, AmigoFunction][]) {
      out(`${pascal(id)}FunctionName`, f.function.functionName, `The ${FUNCTIONS[id].name} function`);
    }
    out('TablesWriterFunctionName', this.tablesWriter.function.functionName, 'The tables-writer function');
    out('GlueDatabase', this.queryTables.databaseName, 'Glue database of the archive tables (Athena)');
    out(
      'AthenaWorkGroup',
      this.queryTables.workGroup.ref,
      'Athena workgroup for the archive tables and named queries',
    );
    const dashboard = this.monitoring.facade.createdDashboard();
    if (dashboard) {
      out(
        'DashboardUrl',
        `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${dashboard.dashboardName}`,
        'CloudWatch dashboard',
      );
    }
  }
}

function acknowledgeFunctionFindings(f: AmigoFunction, sqsFed: boolean): void {
  const scope = Validations.of(f.function);
  scope.acknowledge({
    id: 'HIPAA.Security-LambdaInsideVPC',
    reason:
      "The function calls Amigo's public HTTPS API and AWS service endpoints only; no resource of the stack lives in a VPC, and a VPC would add NAT gateways without keeping any traffic off the internet.",
  });
  scope.acknowledge({
    id: 'HIPAA.Security-LambdaConcurrency',
    reason:
      "Concurrency is bounded where work arrives: each SQS event source mapping's maximumConcurrency, derived from the Amigo rate budget (shared/contract/topology.ts). Reserved concurrency would also take from the account pool and fails deploys in accounts with the default quota of 10.",
  });
  if (sqsFed) {
    scope.acknowledge({
      id: 'HIPAA.Security-LambdaDLQ',
      reason:
        "The function is invoked only by its SQS queue, whose redrive policy moves a failing message to the queue's dead-letter queue (with an alarm); a function dead-letter queue applies to asynchronous invocations, which it never receives.",
    });
  }
}

function allow(role: IRole, sid: string, actions: string[], resources: string[]): void {
  role.addToPrincipalPolicy(new PolicyStatement({ sid, actions, resources }));
}
