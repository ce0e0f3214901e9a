import { describe, expect, it } from 'vitest';
import type { AwsCall } from '../../support/iam/aws-usage.ts';
import { type PermissionEnv, permissionsFor } from '../../support/iam/permissions.ts';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/k-1';
const env: PermissionEnv = {
  region: 'eu-west-1',
  account: '111122223333',
  queueArn: (url) => `arn:aws:sqs:eu-west-1:111122223333:${url.split('/').at(-1)}`,
};
const kmsEnv: PermissionEnv = { ...env, kmsKeyArn: KEY };

function call(
  service: string,
  command: string,
  input: Record<string, unknown>,
  outcome: { error?: string; status?: number } = {},
): AwsCall {
  return { fn: 'f', service, command, input, ...outcome };
}

const object = { Bucket: 'archive', Key: 'a/b.json' };
const OBJECT = 'arn:aws:s3:::archive/a/b.json';
const BUCKET = 'arn:aws:s3:::archive';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/jobs';
const QUEUE = 'arn:aws:sqs:eu-west-1:111122223333:jobs';

describe('permissionsFor S3', () => {
  it.each([
    ['GetObject', 's3:GetObject'],
    ['HeadObject', 's3:GetObject'],
    ['PutObject', 's3:PutObject'],
    ['CreateMultipartUpload', 's3:PutObject'],
    ['UploadPart', 's3:PutObject'],
    ['CompleteMultipartUpload', 's3:PutObject'],
    ['AbortMultipartUpload', 's3:AbortMultipartUpload'],
    ['DeleteObject', 's3:DeleteObject'],
  ])('when %s succeeds without KMS, then it needs %s on the object', (command, action) => {
    expect(permissionsFor(call('s3', command, object, { status: 200 }), env)).toEqual([
      { action, resource: OBJECT },
    ]);
  });

  it('when ListObjectsV2 is sent, then it needs s3:ListBucket on the bucket', () => {
    expect(permissionsFor(call('s3', 'ListObjectsV2', { Bucket: 'archive', Prefix: 'a/' }), env)).toEqual([
      { action: 's3:ListBucket', resource: BUCKET },
    ]);
  });

  it.each([
    ['GetObject', { error: 'NoSuchKey', status: 404 }],
    ['GetObject', { status: 404 }],
    ['HeadObject', { error: 'NotFound', status: 404 }],
    ['HeadObject', { error: 'NotFound' }],
  ])('when %s finds no object (%j), then it also needs s3:ListBucket on the bucket', (command, outcome) => {
    expect(permissionsFor(call('s3', command, object, outcome), kmsEnv)).toEqual([
      { action: 's3:GetObject', resource: OBJECT },
      { action: 's3:ListBucket', resource: BUCKET },
    ]);
  });

  it('when GetObject fails otherwise (412), then it needs s3:GetObject only, no ListBucket and no KMS', () => {
    expect(
      permissionsFor(call('s3', 'GetObject', object, { error: 'PreconditionFailed', status: 412 }), kmsEnv),
    ).toEqual([{ action: 's3:GetObject', resource: OBJECT }]);
  });

  it.each([
    ['GetObject', ['kms:Decrypt']],
    ['HeadObject', []],
    ['PutObject', ['kms:GenerateDataKey']],
    ['CreateMultipartUpload', ['kms:GenerateDataKey']],
    ['UploadPart', ['kms:GenerateDataKey', 'kms:Decrypt']],
    ['CompleteMultipartUpload', ['kms:GenerateDataKey', 'kms:Decrypt']],
    ['AbortMultipartUpload', []],
    ['DeleteObject', []],
  ])('when the bucket is SSE-KMS and %s succeeds, then it needs %j on the key', (command, kmsActions) => {
    const kms = permissionsFor(call('s3', command, object, { status: 200 }), kmsEnv).filter((p) =>
      p.action.startsWith('kms:'),
    );
    expect(kms).toEqual(kmsActions.map((action) => ({ action, resource: KEY })));
  });

  it('when the bucket or key is missing from the input, then it throws naming the field', () => {
    expect(() => permissionsFor(call('s3', 'GetObject', { Bucket: 'archive' }), env)).toThrow(
      's3:GetObject: input Key is missing',
    );
  });
});

describe('permissionsFor SQS', () => {
  it.each([
    ['SendMessage', 'sqs:SendMessage'],
    ['SendMessageBatch', 'sqs:SendMessage'],
    ['ReceiveMessage', 'sqs:ReceiveMessage'],
    ['DeleteMessage', 'sqs:DeleteMessage'],
    ['DeleteMessageBatch', 'sqs:DeleteMessage'],
    ['ChangeMessageVisibility', 'sqs:ChangeMessageVisibility'],
    ['ChangeMessageVisibilityBatch', 'sqs:ChangeMessageVisibility'],
    ['GetQueueAttributes', 'sqs:GetQueueAttributes'],
  ])('when %s is sent without KMS, then it needs %s on the queue ARN', (command, action) => {
    expect(permissionsFor(call('sqs', command, { QueueUrl: QUEUE_URL }), env)).toEqual([
      { action, resource: QUEUE },
    ]);
  });

  it.each([
    ['SendMessage', ['kms:GenerateDataKey', 'kms:Decrypt']],
    ['SendMessageBatch', ['kms:GenerateDataKey', 'kms:Decrypt']],
    ['ReceiveMessage', ['kms:Decrypt']],
    ['DeleteMessageBatch', []],
    ['ChangeMessageVisibilityBatch', []],
    ['GetQueueAttributes', []],
  ])('when the queue is SSE-KMS and %s is sent, then it needs %j on the key', (command, kmsActions) => {
    const kms = permissionsFor(call('sqs', command, { QueueUrl: QUEUE_URL }), kmsEnv).filter((p) =>
      p.action.startsWith('kms:'),
    );
    expect(kms).toEqual(kmsActions.map((action) => ({ action, resource: KEY })));
  });

  it('when GetQueueUrl names a queue, then it needs sqs:GetQueueUrl on the ARN built from the name', () => {
    expect(permissionsFor(call('sqs', 'GetQueueUrl', { QueueName: 'jobs' }), env)).toEqual([
      { action: 'sqs:GetQueueUrl', resource: QUEUE },
    ]);
    expect(
      permissionsFor(
        call('sqs', 'GetQueueUrl', { QueueName: 'jobs', QueueOwnerAWSAccountId: '444455556666' }),
        env,
      ),
    ).toEqual([{ action: 'sqs:GetQueueUrl', resource: 'arn:aws:sqs:eu-west-1:444455556666:jobs' }]);
  });
});

describe('permissionsFor DynamoDB', () => {
  it.each(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'])(
    'when %s is sent, then it needs the same dynamodb action on the table ARN',
    (command) => {
      expect(permissionsFor(call('dynamodb', command, { TableName: 'budget' }), env)).toEqual([
        { action: `dynamodb:${command}`, resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/budget' },
      ]);
    },
  );

  it('when a conditional write fails, then it still needs the write action', () => {
    const failed = call(
      'dynamodb',
      'PutItem',
      { TableName: 'budget' },
      { error: 'ConditionalCheckFailedException' },
    );
    expect(permissionsFor(failed, env)).toEqual([
      { action: 'dynamodb:PutItem', resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/budget' },
    ]);
  });

  it('when Query names an index, then it needs dynamodb:Query on the index ARN', () => {
    expect(
      permissionsFor(call('dynamodb', 'Query', { TableName: 'budget', IndexName: 'by-user' }), env),
    ).toEqual([
      {
        action: 'dynamodb:Query',
        resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/budget/index/by-user',
      },
    ]);
  });

  it('when TableName is already an ARN, then that ARN is the resource', () => {
    const arn = 'arn:aws:dynamodb:eu-west-1:999988887777:table/other';
    expect(permissionsFor(call('dynamodb', 'GetItem', { TableName: arn }), env)).toEqual([
      { action: 'dynamodb:GetItem', resource: arn },
    ]);
  });
});

describe('permissionsFor Secrets Manager', () => {
  const secretArn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:amigo-AbCdEf';

  it('when GetSecretValue is sent and the env maps ids, then it needs the action on the mapped ARN, with KMS', () => {
    const mapped: PermissionEnv = { ...kmsEnv, secretArn: (id) => (id === 'amigo' ? secretArn : id) };
    expect(permissionsFor(call('secrets-manager', 'GetSecretValue', { SecretId: 'amigo' }), mapped)).toEqual([
      { action: 'secretsmanager:GetSecretValue', resource: secretArn },
      { action: 'kms:Decrypt', resource: KEY },
    ]);
  });

  it('when GetSecretValue is sent and the env has no secretArn, then the SecretId is the resource', () => {
    expect(permissionsFor(call('secrets-manager', 'GetSecretValue', { SecretId: secretArn }), env)).toEqual([
      { action: 'secretsmanager:GetSecretValue', resource: secretArn },
    ]);
  });
});

describe('permissionsFor, in general', () => {
  it('when a command has no mapping, then it throws naming the service, the command and this file', () => {
    expect(() => permissionsFor(call('s3', 'GetObjectTagging', object), env)).toThrow(
      'no IAM mapping for s3:GetObjectTagging: add it to test/support/iam/permissions.ts',
    );
    expect(() => permissionsFor(call('kms', 'Decrypt', {}), env)).toThrow('no IAM mapping for kms:Decrypt');
    expect(() => permissionsFor(call('s3', 'constructor', object), env)).toThrow(
      'no IAM mapping for s3:constructor',
    );
  });
});
