import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { createTestApp, nagFindings, removeTestOutdirs } from './cdk-test-app.ts';

afterAll(removeTestOutdirs);

const env = { account: '123456789012', region: 'us-east-1' };

describe('AmigoQaStack', () => {
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', { env });
  const template = Template.fromStack(stack);
  const archiveId = stack.getLogicalId(stack.archive.bucket.node.defaultChild as never);

  it('holds the archive and its access-log bucket, and nothing empty or unused', () => {
    expect(
      Object.values(template.toJSON().Resources)
        .map((r) => (r as { Type: string }).Type)
        .sort(),
    ).toEqual(['AWS::S3::Bucket', 'AWS::S3::Bucket', 'AWS::S3::BucketPolicy', 'AWS::S3::BucketPolicy']);
  });

  it('archives into an encrypted, versioned, access-logged, TLS-only bucket', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: archiveId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('outputs the archive bucket name', () => {
    template.hasOutput('ArchiveBucketName', { Value: { Ref: archiveId } });
  });

  it('passes archive props through', () => {
    const custom = new AmigoQaStack(createTestApp(), 'Custom', {
      env,
      archive: { removalPolicy: RemovalPolicy.DESTROY },
    });
    Template.fromStack(custom).hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ LoggingConfiguration: Match.anyValue() }),
    });
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the stack', () => {
    const app = createTestApp({ nag: true });
    new AmigoQaStack(app, 'AmigoQa', { env });
    expect(nagFindings(app)).toEqual([]);
  });

  it('does fail synthesis on a finding (the check is live)', () => {
    const app = createTestApp({ nag: true });
    new Bucket(new Stack(app, 'Bare'), 'Bucket');
    expect(nagFindings(app)).toEqual([
      'AwsSolutions-S1 Bare/Bucket/Resource',
      'AwsSolutions-S10 Bare/Bucket/Resource',
    ]);
  });
});
