import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ArchiveBucket, type ArchiveBucketProps } from '../constructs/archive-bucket.ts';

export interface AmigoQaStackProps extends StackProps {
  /**
   * Configuration of the conversation archive bucket.
   * @default - the secure defaults of `ArchiveBucket` (SSE-S3, versioned, retained, access-logged)
   */
  readonly archive?: ArchiveBucketProps;
}

/**
 * The amigo-qa pipeline stack. Today: the conversation archive (bucket + its access-log bucket).
 * The scheduler Lambda, the SQS queues with their DLQs and the archive/tag/stall workers join here,
 * built from `AmigoFunction`, once their handlers exist.
 */
export class AmigoQaStack extends Stack {
  readonly archive: ArchiveBucket;

  constructor(scope: Construct, id: string, props: AmigoQaStackProps = {}) {
    super(scope, id, props);
    this.archive = new ArchiveBucket(this, 'Archive', props.archive);

    new CfnOutput(this, 'ArchiveBucketName', {
      description: 'S3 bucket that archives Amigo conversations',
      value: this.archive.bucket.bucketName,
    });
  }
}
