// Turns one recorded AWS SDK call (aws-usage.ts) into the IAM (action, resource) pairs it needs.
//
// Why: the least-privilege test compares what each function really used with what its role grants;
// this is the "what it used" half, following the AWS Service Authorization Reference.
//
// Only the commands this project sends are mapped. Any other (service, command) THROWS, naming it, so
// a new code path cannot pass the test silently: add its mapping here, with the reference at hand.
//
// Notes on the mapping:
// - S3 GetObject / HeadObject on a missing key also need s3:ListBucket on the bucket: without it S3
//   answers 403 AccessDenied instead of 404, and the code that expects "not found" breaks.
// - The multipart calls need s3:PutObject (there is no separate action for them), except
//   AbortMultipartUpload, which has its own.
// - `kmsKeyArn`, when set, is the customer managed key of the resource the call uses (the bucket, the
//   queue or the secret), and adds the KMS actions that SSE-KMS needs.
// - A DynamoDB Query on an index needs the index ARN (`table/T/index/I`), not the table's.
//
// What it does NOT do: condition keys (kms:ViaService, s3:prefix, dynamodb:LeadingKeys ...), partitions
// other than `aws`, or permissions the Lambda service itself uses (logs, X-Ray, the event source mapping).
import type { AwsCall } from './aws-usage.ts';

export interface Permission {
  readonly action: string;
  readonly resource: string;
}

export interface PermissionEnv {
  region: string;
  account: string;
  /** The ARN of the queue at this url. */
  queueArn(url: string): string;
  /** The KMS key encrypting the resource the call uses, when it is a customer managed key. */
  kmsKeyArn?: string | undefined;
  /** The ARN of a secret from the SecretId the code sent (which may be a name). */
  secretArn?(id: string): string;
}

type Mapping = (call: AwsCall, env: PermissionEnv) => Permission[];

const s3: Record<string, Mapping> = {
  GetObject: (call, env) =>
    isNotFound(call)
      ? [
          { action: 's3:GetObject', resource: objectArn(call) },
          { action: 's3:ListBucket', resource: bucketArn(call) },
        ]
      : [
          { action: 's3:GetObject', resource: objectArn(call) },
          // Only a successful read decrypts: a failed one (412, 304) never reached the key.
          ...(call.error === undefined ? kms(env, 'kms:Decrypt') : []),
        ],
  HeadObject: (call) => [
    { action: 's3:GetObject', resource: objectArn(call) },
    ...(isNotFound(call) ? [{ action: 's3:ListBucket', resource: bucketArn(call) }] : []),
  ],
  PutObject: (call, env) => [
    { action: 's3:PutObject', resource: objectArn(call) },
    ...kms(env, 'kms:GenerateDataKey'),
  ],
  CreateMultipartUpload: (call, env) => [
    { action: 's3:PutObject', resource: objectArn(call) },
    ...kms(env, 'kms:GenerateDataKey'),
  ],
  UploadPart: (call, env) => [
    { action: 's3:PutObject', resource: objectArn(call) },
    ...kms(env, 'kms:GenerateDataKey', 'kms:Decrypt'),
  ],
  CompleteMultipartUpload: (call, env) => [
    { action: 's3:PutObject', resource: objectArn(call) },
    ...kms(env, 'kms:GenerateDataKey', 'kms:Decrypt'),
  ],
  AbortMultipartUpload: (call) => [{ action: 's3:AbortMultipartUpload', resource: objectArn(call) }],
  DeleteObject: (call) => [{ action: 's3:DeleteObject', resource: objectArn(call) }],
  ListObjectsV2: (call) => [{ action: 's3:ListBucket', resource: bucketArn(call) }],
};

const sqs: Record<string, Mapping> = {
  SendMessage: (call, env) => [
    { action: 'sqs:SendMessage', resource: queue(call, env) },
    ...kms(env, 'kms:GenerateDataKey', 'kms:Decrypt'),
  ],
  SendMessageBatch: (call, env) => [
    { action: 'sqs:SendMessage', resource: queue(call, env) },
    ...kms(env, 'kms:GenerateDataKey', 'kms:Decrypt'),
  ],
  ReceiveMessage: (call, env) => [
    { action: 'sqs:ReceiveMessage', resource: queue(call, env) },
    ...kms(env, 'kms:Decrypt'),
  ],
  DeleteMessage: (call, env) => [{ action: 'sqs:DeleteMessage', resource: queue(call, env) }],
  DeleteMessageBatch: (call, env) => [{ action: 'sqs:DeleteMessage', resource: queue(call, env) }],
  ChangeMessageVisibility: (call, env) => [
    { action: 'sqs:ChangeMessageVisibility', resource: queue(call, env) },
  ],
  ChangeMessageVisibilityBatch: (call, env) => [
    { action: 'sqs:ChangeMessageVisibility', resource: queue(call, env) },
  ],
  GetQueueAttributes: (call, env) => [{ action: 'sqs:GetQueueAttributes', resource: queue(call, env) }],
  // GetQueueUrl names the queue, it has no url yet.
  GetQueueUrl: (call, env) => {
    const owner = optional(call, 'QueueOwnerAWSAccountId') ?? env.account;
    return [
      {
        action: 'sqs:GetQueueUrl',
        resource: `arn:aws:sqs:${env.region}:${owner}:${required(call, 'QueueName')}`,
      },
    ];
  },
};

const dynamodb: Record<string, Mapping> = Object.fromEntries(
  ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'].map((command): [string, Mapping] => [
    command,
    (call, env) => {
      const index = optional(call, 'IndexName');
      const table = tableArn(call, env);
      return [
        { action: `dynamodb:${command}`, resource: index === undefined ? table : `${table}/index/${index}` },
      ];
    },
  ]),
);

const secretsManager: Record<string, Mapping> = {
  GetSecretValue: (call, env) => {
    const id = required(call, 'SecretId');
    return [
      { action: 'secretsmanager:GetSecretValue', resource: env.secretArn?.(id) ?? id },
      ...kms(env, 'kms:Decrypt'),
    ];
  },
};

const MAPPINGS: Record<string, Record<string, Mapping>> = {
  s3,
  sqs,
  dynamodb,
  'secrets-manager': secretsManager,
};

/** The IAM permissions `call` needs, without duplicates. Throws for a call with no mapping here. */
export function permissionsFor(call: AwsCall, env: PermissionEnv): Permission[] {
  const commands = Object.hasOwn(MAPPINGS, call.service) ? MAPPINGS[call.service] : undefined;
  const mapping = commands && Object.hasOwn(commands, call.command) ? commands[call.command] : undefined;
  if (mapping === undefined) {
    throw new Error(
      `no IAM mapping for ${call.service}:${call.command}: add it to test/support/iam/permissions.ts`,
    );
  }
  const seen = new Set<string>();
  const out: Permission[] = [];
  for (const permission of mapping(call, env)) {
    const key = `${permission.action}\n${permission.resource}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(permission);
  }
  return out;
}

function isNotFound(call: AwsCall): boolean {
  return call.error === 'NoSuchKey' || call.error === 'NotFound' || call.status === 404;
}

function kms(env: PermissionEnv, ...actions: string[]): Permission[] {
  const key = env.kmsKeyArn;
  return key === undefined ? [] : actions.map((action) => ({ action, resource: key }));
}

function bucketArn(call: AwsCall): string {
  return `arn:aws:s3:::${required(call, 'Bucket')}`;
}

function objectArn(call: AwsCall): string {
  return `${bucketArn(call)}/${required(call, 'Key')}`;
}

function queue(call: AwsCall, env: PermissionEnv): string {
  return env.queueArn(required(call, 'QueueUrl'));
}

/** DynamoDB accepts a table ARN as `TableName` too. */
function tableArn(call: AwsCall, env: PermissionEnv): string {
  const name = required(call, 'TableName');
  return name.startsWith('arn:') ? name : `arn:aws:dynamodb:${env.region}:${env.account}:table/${name}`;
}

function optional(call: AwsCall, field: string): string | undefined {
  const value = call.input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new Error(`${call.service}:${call.command}: input ${field} is not a string (${String(value)})`);
  }
  return value;
}

function required(call: AwsCall, field: string): string {
  const value = optional(call, field);
  if (value === undefined) throw new Error(`${call.service}:${call.command}: input ${field} is missing`);
  return value;
}
