import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { redactText } from '../errors.ts';
import type { DeadLetters } from '../ports/dead-letters.ts';

/** Sends a failed job's original body to the dead-letter queue with the reason as message attributes. */
export class SqsDeadLetters implements DeadLetters {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;

  constructor(sqs: SQSClient, queueUrl: string) {
    this.sqs = sqs;
    this.queueUrl = queueUrl;
  }

  async send(body: string, reason: { code: string; message: string; jobId?: string }): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: body,
        MessageAttributes: {
          'failure-code': { DataType: 'String', StringValue: reason.code },
          'failure-reason': { DataType: 'String', StringValue: redactText(reason.message).slice(0, 1000) },
          ...(reason.jobId ? { 'job-id': { DataType: 'String', StringValue: reason.jobId } } : {}),
        },
      }),
    );
  }
}
