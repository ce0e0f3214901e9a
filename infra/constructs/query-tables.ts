// The SQL side of the archive in AWS: a Glue database with one table per kind of row
// (shared/tables/schema.ts), found by partition projection (no crawler, no MSCK REPAIR: a part the
// tables writer puts under `tables/<table>/org=<org>/date=<day>/` is queryable the moment it lands),
// an Athena workgroup whose results are encrypted and expire, and the named queries of
// shared/tables/named-queries.ts.
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ConfigurationError } from '../../shared/errors.ts';
import { type OrganizationId, OrganizationIdSchema } from '../../shared/ids.ts';
import { NAMED_QUERIES } from '../../shared/tables/named-queries.ts';
import { type ColumnType, PARTITION_KEYS, TABLES, TABLES_PREFIX } from '../../shared/tables/schema.ts';

/** How each column type reads in Glue (and so in Athena): the Parquet writer's types, one to one. */
export const GLUE_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'string',
  int32: 'int',
  int64: 'bigint',
  double: 'double',
  boolean: 'boolean',
  timestamp_ms: 'timestamp',
  // Parquet BYTE_ARRAY with the JSON logical type: Athena reads it as text, for json_extract_scalar.
  json: 'string',
};

export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';

export interface QueryTablesProps {
  /** The archive bucket the tables writer writes `tables/` into. */
  readonly archive: IBucket;
  /** The key prefix of the archive in the bucket ('' for its root). */
  readonly archivePrefix?: string;
  /**
   * The organisations whose partitions exist (projection type `enum`). Without them `org` is
   * projected as `injected`: then every query must say `WHERE org = '<id>'`, and the named queries,
   * which do not, fail.
   */
  readonly organizationIds: readonly string[];
  /**
   * The first day a `date` partition can have (yyyy-MM-dd, or Athena's relative form like
   * NOW-5YEARS); partitions from it to today are projected.
   */
  readonly firstDay: string;
  /** Encrypts the query results (the answers hold conversation data). */
  readonly encryptionKey: IKey;
  /** Where the results bucket's server access logs go. */
  readonly accessLogsBucket: IBucket;
  /** How long query results are kept. @default 30 days */
  readonly resultsExpireAfter?: Duration;
  /** The most one query may scan before Athena cancels it. @default 10 GiB */
  readonly bytesScannedCutoffPerQuery?: number;
}

/**
 * The organisations of `-c organization=<id>[,<id>]` (docs/query.md), checked by the rule every org
 * id follows (shared/ids.ts): they become the `org` partition's projected values. Unset: none.
 */
export function organizationIdsFromContext(context: unknown): OrganizationId[] {
  if (typeof context !== 'string') return [];
  return context
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean)
    .map((id) => {
      const parsed = OrganizationIdSchema.safeParse(id);
      if (parsed.success) return parsed.data;
      throw new ConfigurationError(
        '-c organization',
        `"${id}" is not an Amigo organisation id (${parsed.error.issues[0]?.message})`,
        'Give the AMIGO_ORGANIZATION_ID value, like -c organization=acme (several: comma-separated)',
      );
    });
}

export const DEFAULT_RESULTS_EXPIRY = Duration.days(30);
export const DEFAULT_BYTES_SCANNED_CUTOFF = 10 * 1024 ** 3;

export class QueryTables extends Construct {
  readonly database: CfnDatabase;
  readonly databaseName: string;
  readonly tables: Readonly<Record<string, CfnTable>>;
  readonly workGroup: CfnWorkGroup;
  readonly resultsBucket: Bucket;
  readonly namedQueries: readonly CfnNamedQuery[];

  constructor(scope: Construct, id: string, props: QueryTablesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const prefix = props.archivePrefix ? `${props.archivePrefix.replace(/\/+$/, '')}/` : '';
    const root = `s3://${props.archive.bucketName}/${prefix}${TABLES_PREFIX}`;

    // Glue names: lower case, letters, digits and underscores; one database per stack.
    this.databaseName = `${stack.stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_archive`;
    this.database = new CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: 'amigo-qa: the archive as SQL tables (Parquet under tables/, docs/query.md)',
      },
    });

    const [org, date] = PARTITION_KEYS;
    const orgProjection: Record<string, string> =
      props.organizationIds.length > 0
        ? {
            [`projection.${org.name}.type`]: 'enum',
            [`projection.${org.name}.values`]: props.organizationIds.join(','),
          }
        : { [`projection.${org.name}.type`]: 'injected' };

    const tables: Record<string, CfnTable> = {};
    for (const table of TABLES) {
      const location = `${root}${table.name}/`;
      const created = new CfnTable(this, `Table${table.name[0]?.toUpperCase()}${table.name.slice(1)}`, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: table.name,
          description: table.description,
          tableType: 'EXTERNAL_TABLE',
          parameters: {
            classification: 'parquet',
            EXTERNAL: 'TRUE',
            'projection.enabled': 'true',
            ...orgProjection,
            [`projection.${date.name}.type`]: 'date',
            [`projection.${date.name}.format`]: 'yyyy-MM-dd',
            [`projection.${date.name}.range`]: `${props.firstDay},NOW`,
            [`projection.${date.name}.interval`]: '1',
            [`projection.${date.name}.interval.unit`]: 'DAYS',
            // The part keys of shared/tables/schema.ts (tablePartKey), folder by folder.
            'storage.location.template': `${location}${org.name}=\${${org.name}}/${date.name}=\${${date.name}}/`,
          },
          partitionKeys: [
            { name: org.name, type: 'string', comment: 'the Amigo organisation' },
            // A string, as in the folder names: DuckDB on a laptop reads it the same way.
            {
              name: date.name,
              type: 'string',
              comment: "the conversation's created_at day (UTC), yyyy-MM-dd",
            },
          ],
          storageDescriptor: {
            location,
            inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
            serdeInfo: { serializationLibrary: PARQUET_SERDE, parameters: { 'serialization.format': '1' } },
            columns: table.columns.map((c) => ({
              name: c.name,
              type: GLUE_TYPES[c.type],
              comment: c.description.slice(0, 255),
            })),
          },
        },
      });
      created.node.addDependency(this.database);
      tables[table.name] = created;
    }
    this.tables = tables;

    this.resultsBucket = new Bucket(this, 'Results', {
      encryption: BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'athena-results/',
      // Kept when the stack is deleted, like the archive and its logs: CloudFormation cannot delete a
      // bucket that holds objects, and emptying it on delete would take a custom-resource function
      // allowed to delete health data. Its lifecycle rule still runs, so a kept bucket empties itself
      // within the expiry (plus a day for the old versions).
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-query-results',
          enabled: true,
          expiration: props.resultsExpireAfter ?? DEFAULT_RESULTS_EXPIRY,
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          expiredObjectDeleteMarker: false,
        },
      ],
    });
    Validations.of(this.resultsBucket).acknowledge({
      id: 'HIPAA.Security-S3BucketReplicationEnabled',
      reason:
        'Query results are copies of answers that expire after days and can be recomputed from the archive at any time; replicating them to a second region would only spread health data.',
    });

    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: `${stack.stackName}-archive`,
      description: 'amigo-qa: SQL over the archive tables (results encrypted, expiring)',
      state: 'ENABLED',
      // Deleting the workgroup takes its query history with it; the results bucket is kept and expires them.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot send results elsewhere or unencrypted.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? DEFAULT_BYTES_SCANNED_CUTOFF,
        engineVersion: { selectedEngineVersion: 'AUTO' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.encryptionKey.keyArn },
          expectedBucketOwner: stack.account,
        },
      },
    });

    this.namedQueries = NAMED_QUERIES.map((q) => {
      const named = new CfnNamedQuery(
        this,
        `Query${q.name.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase())}`,
        {
          name: q.name,
          description: q.description.slice(0, 1024),
          database: this.databaseName,
          workGroup: this.workGroup.ref,
          queryString: q.sql,
        },
      );
      named.node.addDependency(this.workGroup);
      named.node.addDependency(this.database);
      return named;
    });
  }
}
