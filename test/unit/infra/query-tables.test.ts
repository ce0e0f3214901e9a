// The SQL tables in the template: Glue tables found by partition projection at the part keys the
// writer uses, an Athena workgroup that keeps its results encrypted and short-lived, the named
// queries, and the tables writer's function, schedule and permissions. The column types against
// real Parquet parts: test/integration/tables-aws.test.ts.
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { GLUE_TYPES, PARQUET_SERDE } from '../../../infra/constructs/query-tables.ts';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack, type TablesProps } from '../../../infra/stacks/amigo-qa-stack.ts';
import { TABLES_WRITER, TABLES_WRITER_INPUT } from '../../../shared/contract/topology.ts';
import { NAMED_QUERIES } from '../../../shared/tables/named-queries.ts';
import { TABLES, tablePartKey } from '../../../shared/tables/schema.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import type { Cfn } from './template-json.ts';

vi.setConfig({ testTimeout: 30_000 });
afterAll(() => removeTestOutdirs());

const env = { account: '123456789012', region: 'us-east-1' };

function synth(tables?: TablesProps) {
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env,
    inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' }),
    ...(tables ? { tables } : {}),
  });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Cfn }>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const bucketId = stack.getLogicalId(stack.archive.bucket.node.defaultChild as never);
  return { stack, template, resources, ofType, bucketId };
}

/** `Fn::Join` parts of an S3 location with the bucket's Ref replaced by `<bucket>`. */
function joined(value: unknown, bucketId: string): string {
  const parts = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return parts
    .map((p) => (typeof p === 'string' ? p : (p as { Ref?: string }).Ref === bucketId ? '<bucket>' : '?'))
    .join('');
}

describe('the Glue tables', () => {
  const { ofType, bucketId } = synth({ organizationIds: ['org-a', 'org-b'], firstDay: '2026-01-01' });
  const tables = ofType('AWS::Glue::Table');

  it('when synthesized, then there is one Parquet table per table of the schema, with its columns and Glue types in order', () => {
    expect(tables.map(([, t]) => t.Properties.TableInput.Name).sort()).toEqual(
      TABLES.map((t) => t.name).sort(),
    );
    for (const def of TABLES) {
      const [, table] = tables.find(([, t]) => t.Properties.TableInput.Name === def.name) ?? [];
      const input = table?.Properties.TableInput;
      expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe(PARQUET_SERDE);
      expect(input.StorageDescriptor.Columns.map((c: Cfn) => [c.Name, c.Type])).toEqual(
        def.columns.map((c) => [c.name, GLUE_TYPES[c.type]]),
      );
      expect(input.PartitionKeys.map((k: Cfn) => [k.Name, k.Type])).toEqual([
        ['org', 'string'],
        ['date', 'string'],
      ]);
    }
  });

  it('when a part key is filled into the location template, then it is the folder tablePartKey writes the part into', () => {
    for (const def of TABLES) {
      const [, table] = tables.find(([, t]) => t.Properties.TableInput.Name === def.name) ?? [];
      const params = table?.Properties.TableInput.Parameters;
      const template = joined(params['storage.location.template'], bucketId);
      // Athena fills the projected values into its placeholders, written ${name}.
      const folder = template.replace(/\$\{org\}/, 'org-a').replace(/\$\{date\}/, '2026-11-30');
      const key = tablePartKey(def.name, 'org-a', '2026-11-30', '2026-11-30T02-00-00Z-abc123');
      expect(`${folder}2026-11-30T02-00-00Z-abc123.parquet`).toBe(`s3://<bucket>/${key}`);
      expect(joined(table?.Properties.TableInput.StorageDescriptor.Location, bucketId)).toBe(
        `s3://<bucket>/tables/${def.name}/`,
      );
    }
  });

  it('when organisations are named, then org is an enum and date a daily projection from the first day to now (no crawler)', () => {
    for (const [, table] of tables) {
      expect(table.Properties.TableInput.Parameters).toMatchObject({
        'projection.enabled': 'true',
        'projection.org.type': 'enum',
        'projection.org.values': 'org-a,org-b',
        'projection.date.type': 'date',
        'projection.date.format': 'yyyy-MM-dd',
        'projection.date.range': '2026-01-01,NOW',
        'projection.date.interval': '1',
        'projection.date.interval.unit': 'DAYS',
      });
    }
    expect(ofType('AWS::Glue::Crawler')).toHaveLength(0);
  });

  it('when no organisation is named, then org is injected (each query names it)', () => {
    const { ofType: types } = synth();
    for (const [, table] of types('AWS::Glue::Table')) {
      expect(table.Properties.TableInput.Parameters['projection.org.type']).toBe('injected');
      expect(table.Properties.TableInput.Parameters).not.toHaveProperty('projection.org.values');
      expect(table.Properties.TableInput.Parameters['projection.date.range']).toBe('NOW-5YEARS,NOW');
    }
  });
});

describe('the Athena workgroup', () => {
  const { template, resources, stack } = synth({ organizationIds: ['org-a'] });
  const keyId = stack.getLogicalId(stack.key.node.defaultChild as never);
  const resultsId = stack.getLogicalId(stack.queryTables.resultsBucket.node.defaultChild as never);

  it('when synthesized, then its enforced configuration writes KMS-encrypted results to its own bucket and caps each query', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        ResultConfiguration: {
          EncryptionConfiguration: {
            EncryptionOption: 'SSE_KMS',
            KmsKey: { 'Fn::GetAtt': [keyId, 'Arn'] },
          },
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: resultsId }, '/']] },
        },
      },
    });
  });

  it('when synthesized, then the results bucket is KMS-encrypted, private, TLS-only and expires results after 30 days', () => {
    const bucket = resources[resultsId]?.Properties;
    expect(
      bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
    ).toEqual({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' })]),
    );
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: resultsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('when the stack is deleted, then the results bucket is kept like the archive, and its lifecycle still empties it', () => {
    const results = template.toJSON().Resources[resultsId];

    expect([results.DeletionPolicy, results.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
    expect(results.Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ExpirationInDays: 30, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
      ]),
    );
  });

  it('when synthesized, then no bucket is deleted with the stack unless something empties it first', () => {
    const all = template.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>;
    const deleted = Object.entries(all)
      .filter(([, r]) => r.Type === 'AWS::S3::Bucket' && r.DeletionPolicy !== 'Retain')
      .map(([id]) => id);

    // A versioned bucket that still holds objects makes the stack's deletion fail (CloudFormation
    // cannot delete it); emptying one would take Custom::S3AutoDeleteObjects, and there is none.
    expect(deleted).toEqual([]);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('when synthesized, then every named query is there, in the workgroup and the tables database, with its SQL', () => {
    const named = Object.values(resources).filter((r) => r.Type === 'AWS::Athena::NamedQuery');
    expect(named.map((q) => q.Properties.Name).sort()).toEqual(NAMED_QUERIES.map((q) => q.name).sort());
    for (const q of NAMED_QUERIES) {
      template.hasResourceProperties('AWS::Athena::NamedQuery', {
        Name: q.name,
        QueryString: q.sql,
        Database: stack.queryTables.databaseName,
        WorkGroup: { Ref: stack.getLogicalId(stack.queryTables.workGroup) },
      });
    }
  });
});

describe('the tables writer', () => {
  const { template, resources, stack, bucketId } = synth({ organizationIds: ['org-a'] });
  const fnId = stack.getLogicalId(stack.tablesWriter.function.node.defaultChild as never);
  const roleId = stack.getLogicalId(stack.tablesWriter.role.node.defaultChild as never);

  it('when synthesized, then it is invoked on its own schedule with the look-back, and its failed invocations are kept', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: `rate(${TABLES_WRITER.everyHours} hours)`,
      Target: {
        Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
        Input: JSON.stringify(TABLES_WRITER_INPUT),
      },
    });
    const fn = resources[fnId]?.Properties;
    expect(fn).toMatchObject({ Timeout: TABLES_WRITER.timeoutSeconds, MemorySize: TABLES_WRITER.memoryMb });
    expect(fn.DeadLetterConfig.TargetArn).toEqual({
      'Fn::GetAtt': [stack.getLogicalId(stack.invocationFailures.node.defaultChild as never), 'Arn'],
    });
    expect(Object.keys(fn.Environment.Variables)).toContain('ARCHIVE_BUCKET');
    expect(fn.Environment.Variables).not.toHaveProperty('AMIGO_SECRET_ARN');
  });

  it("when its role is read, then it writes and deletes under tables/ only and reads the runs, the folders' JSON documents (never a recording) and stall records", () => {
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Cfn) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Cfn[]);
    const objectsOf = (action: string) =>
      statements
        .filter((st) => [st.Action].flat().includes(action))
        .flatMap((st) => [st.Resource].flat())
        .filter((r: Cfn) => r['Fn::Join'])
        .map((r: Cfn) => r['Fn::Join'][1].slice(1).join(''))
        .sort();
    expect(objectsOf('s3:PutObject')).toEqual(['/tables/*']);
    expect(objectsOf('s3:DeleteObject')).toEqual(['/tables/*']);
    expect(objectsOf('s3:GetObject')).toEqual([
      '/conversations/*.json',
      '/conversations/*.jsonl',
      '/runs/*',
      '/stalled/*',
    ]);
    const actions = statements.flatMap((st) => [st.Action].flat());
    expect(
      actions.filter((a: string) => a.startsWith('secretsmanager:') || a.startsWith('dynamodb:')),
    ).toEqual([]);
    expect(bucketId).toBeTruthy();
  });
});
