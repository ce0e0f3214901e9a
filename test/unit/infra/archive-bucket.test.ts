import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, StorageClass } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ABORT_INCOMPLETE_UPLOADS_RULE_ID,
  ArchiveBucket,
  type ArchiveBucketProps,
} from '../../../infra/constructs/archive-bucket.ts';
import { createTestApp, nagFindings, removeTestOutdirs } from './cdk-test-app.ts';

afterAll(removeTestOutdirs);

function synth(props?: ArchiveBucketProps): { template: Template; archive: ArchiveBucket; stack: Stack } {
  const stack = new Stack(createTestApp(), 'Test');
  const archive = new ArchiveBucket(stack, 'Archive', props);
  return { template: Template.fromStack(stack), archive, stack };
}

function logicalId(stack: Stack, bucket: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(bucket.node.defaultChild as never);
}

describe('ArchiveBucket defaults', () => {
  const { template, archive, stack } = synth();
  const archiveId = logicalId(stack, archive.bucket);
  const logsId = logicalId(stack, archive.accessLogsBucket as Bucket);

  it('creates the archive and a dedicated access-log bucket', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2);
    expect(archiveId).not.toBe(logsId);
  });

  it('encrypts both buckets with SSE-S3', () => {
    template.resourcePropertiesCountIs(
      'AWS::S3::Bucket',
      {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      },
      2,
    );
  });

  it('blocks all public access and disables ACLs on both buckets', () => {
    template.resourcePropertiesCountIs(
      'AWS::S3::Bucket',
      {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
      2,
    );
  });

  it.each([
    ['archive', () => archiveId],
    ['access-log', () => logsId],
  ])('denies non-TLS and TLS < 1.2 requests to the %s bucket', (_name, id) => {
    const bucketArn = { 'Fn::GetAtt': [id(), 'Arn'] };
    const resources = [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }];
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id() },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: resources,
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
            Resource: resources,
          }),
        ]),
      },
    });
  });

  it('versions the archive', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.anyValue(),
      VersioningConfiguration: { Status: 'Enabled' },
    });
  });

  it('writes server access logs to the log bucket, which S3 log delivery may write to', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'archive/' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 's3:PutObject',
            Principal: { Service: 'logging.s3.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  it('aborts incomplete multipart uploads after 7 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          {
            Id: ABORT_INCOMPLETE_UPLOADS_RULE_ID,
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          },
        ],
      },
    });
  });

  it('retains both buckets when they leave the stack', () => {
    for (const id of [archiveId, logsId]) {
      expect(template.toJSON().Resources[id]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  it('has no AwsSolutions or HIPAA findings, and acknowledges only two HIPAA rules, each with its reason', () => {
    const app = createTestApp({ nag: true });
    const nagged = new ArchiveBucket(new Stack(app, 'Nag'), 'Archive');
    expect(nagFindings(app)).toEqual([]);
    const acknowledged = nagged.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledged.map(([rule]) => rule).sort()).toEqual([
      'Annotation::HIPAA.Security-S3BucketReplicationEnabled',
      'Annotation::HIPAA.Security-S3DefaultEncryptionKMS',
    ]);
    for (const [, reason] of acknowledged) expect(reason.length).toBeGreaterThan(60);
  });

  it('leaves the log bucket compliant with S1 only while it receives logs from a bucket in the stack', () => {
    const app = createTestApp({ nag: true });
    const stack = new Stack(app, 'Nag');
    new ArchiveBucket(stack, 'Archive', {
      serverAccessLogsBucket: new Bucket(stack, 'Logs', { enforceSSL: true }),
    });
    new Bucket(stack, 'Orphan', { enforceSSL: true });
    expect(nagFindings(app)).toEqual(['AwsSolutions-S1 Nag/Orphan/Resource']);
  });
});

describe('ArchiveBucket props win over defaults', () => {
  it('uses SSE-KMS with a bucket key when a key is given', () => {
    const stack = new Stack(createTestApp(), 'Test');
    const key = new Key(stack, 'Key', { enableKeyRotation: true });
    const archive = new ArchiveBucket(stack, 'Archive', { encryptionKey: key });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.anyValue(),
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as never), 'Arn'] },
            },
          },
        ],
      },
    });
    // The access-log bucket stays on SSE-S3, which log delivery can write to without key-policy grants.
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.absent(),
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    expect(archive.bucket.encryptionKey).toBe(key);
  });

  it('keeps defaults for props passed as undefined', () => {
    const { template } = synth({
      versioned: undefined,
      removalPolicy: undefined,
      serverAccessLogsPrefix: undefined,
    });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'archive/' }),
      }),
    });
  });

  it('honours versioned: false, DESTROY, a custom abort period, a prefix and extra lifecycle rules', () => {
    const { template } = synth({
      versioned: false,
      removalPolicy: RemovalPolicy.DESTROY,
      abortIncompleteMultipartUploadAfter: Duration.days(2),
      serverAccessLogsPrefix: 'logs/archive/',
      lifecycleRules: [
        {
          id: 'to-glacier',
          transitions: [{ storageClass: StorageClass.GLACIER, transitionAfter: Duration.days(90) }],
        },
      ],
    });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({
        VersioningConfiguration: Match.absent(),
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'logs/archive/' }),
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              Id: ABORT_INCOMPLETE_UPLOADS_RULE_ID,
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
            }),
            Match.objectLike({
              Id: 'to-glacier',
              Transitions: [{ StorageClass: 'GLACIER', TransitionInDays: 90 }],
            }),
          ],
        },
      }),
    });
    // The log bucket follows the archive's removal policy.
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ LoggingConfiguration: Match.absent() }),
    });
  });

  it('logs to a caller-given bucket instead of creating one', () => {
    const stack = new Stack(createTestApp(), 'Test');
    const central = new Bucket(stack, 'CentralLogs');
    const archive = new ArchiveBucket(stack, 'Archive', { serverAccessLogsBucket: central });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 2);
    expect(archive.accessLogsBucket).toBe(central);
    expect(archive.node.tryFindChild('AccessLogs')).toBeUndefined();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: {
        DestinationBucketName: { Ref: stack.getLogicalId(central.node.defaultChild as never) },
      },
    });
  });
});
