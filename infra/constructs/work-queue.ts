import { Duration } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueSettings } from '../../shared/contract/topology.ts';

export interface WorkQueueProps {
  /** Visibility, retention and redrive, from `queueSettings` in shared/contract/topology.ts. */
  readonly settings: QueueSettings;
  /**
   * Customer-managed key for SSE-KMS (jobs carry conversation metadata, stall jobs the agent's
   * last message). Senders need kms:GenerateDataKey and kms:Decrypt on it, receivers kms:Decrypt.
   * @default - SQS-managed encryption (SSE-SQS)
   */
  readonly encryptionKey?: IKey;
  /**
   * How long SQS reuses a data key before asking KMS again (fewer KMS calls, lower cost).
   * @default Duration.hours(1)
   */
  readonly dataKeyReuse?: Duration;
}

/**
 * A standard SQS queue with its dead-letter queue, both encrypted and TLS-only. Standard, not
 * FIFO: jobs put back after Amigo throttled them carry their own delay (`DelaySeconds`), which
 * FIFO queues do not allow per message; every consumer is idempotent, so at-least-once is enough.
 */
export class WorkQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    const { settings } = props;
    const encryption = props.encryptionKey
      ? {
          encryption: QueueEncryption.KMS,
          encryptionMasterKey: props.encryptionKey,
          dataKeyReuse: props.dataKeyReuse ?? Duration.hours(1),
        }
      : { encryption: QueueEncryption.SQS_MANAGED };
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      ...encryption,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(settings.deadLetterRetentionSeconds),
    });
    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(settings.retentionSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });
  }
}
