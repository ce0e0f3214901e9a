// The AWS side and the laptop side of the SQL tables on a real run: the simulator, one local nightly
// cycle with examples/rules.yaml into a folder, then the tables-writer handler (as its schedule
// invokes it) writes the run's parts. Then:
// - the Glue tables the stack declares are held to the Parquet those parts really hold, read by
//   DuckDB (an independent reader, not the writer): column names, order and types;
// - `query` runs over the folder and over an S3 copy (the embedded emulator), in every format, with
//   --list and --named, and refuses what it cannot run with the fix.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryCommand } from '../../../cli/commands/query.ts';
import {
  createTablesWriterHandler,
  type TablesWriterOutput,
} from '../../../functions/tables-writer/handler.ts';
import { GLUE_TYPES } from '../../../infra/constructs/query-tables.ts';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { runLocalCycle } from '../../../local/pipeline.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import { listArchivedConversations } from '../../../shared/archive/read.ts';
import { defaultPipelineConfig } from '../../../shared/config/pipeline-config.ts';
import { loadRules } from '../../../shared/config/source-file.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { NAMED_QUERIES } from '../../../shared/tables/named-queries.ts';
import { type ColumnType, TABLES, type TableName } from '../../../shared/tables/schema.ts';
import { QueryError } from '../../../shared/tables-query/engine.ts';
import { amigoConfigFor } from '../../support/client.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';
import { startTestSimulator } from '../../support/simulator.ts';
import { createTestApp, removeTestOutdirs } from '../../unit/infra/cdk-test-app.ts';
import { baseEnv, REPO, runCli } from '../cli/cli-process.ts';

let root: string;
let store: FsArchiveStore;
let output: TablesWriterOutput;
let archived: number;
const scratch: string[] = [];

const context = {
  functionName: 'tables-writer',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;

/** The part files of a table, as paths. */
async function partsOf(table: TableName): Promise<string[]> {
  const files: string[] = [];
  for await (const o of store.list(`tables/${table}/`)) {
    if (o.key.endsWith('.parquet')) files.push(join(root, ...o.key.split('/')));
  }
  return files;
}

/** Runs `query` in this process; returns what it printed. */
async function query(sql: string | undefined, options: Record<string, unknown>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await queryCommand(
    sql,
    { archive: root, ...options },
    (t) => out.push(t),
    (t) => err.push(t),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  const sim = await startTestSimulator({
    seed: 3,
    conversations: 12,
    longConversations: 0,
    rateLimits: { enabled: false },
  });
  root = await mkdtemp(join(tmpdir(), 'tables-aws-'));
  try {
    const result = await runLocalCycle({
      config: { ...defaultPipelineConfig(), run: { workers: 4, maxReceiveCount: 3 } },
      amigo: amigoConfigFor(sim, { timeoutMs: 30_000 }),
      archive: root,
      rules: loadRules('examples/rules.yaml'),
    });
    if (result.deadLetters.length > 0) throw new Error(`${result.deadLetters.length} jobs dead-lettered`);
  } finally {
    await sim.stop();
  }
  store = new FsArchiveStore(root);
  archived = (await listArchivedConversations(store)).length;
  const handler = createTablesWriterHandler(async () => ({
    store,
    clock: systemClock,
    log: silentTelemetry.log,
  }));
  output = (await handler({}, context)) as TablesWriterOutput;
}, 180_000);

afterAll(async () => {
  removeTestOutdirs();
  await rm(root, { recursive: true, force: true });
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe('the tables writer after a nightly cycle', () => {
  it("when its schedule invokes it, then it writes the parts of the run that just ran, every table's", async () => {
    expect(output.runs).toBe(1);
    expect(output.unreadable).toEqual([]);
    for (const table of TABLES) expect(await partsOf(table.name), table.name).not.toHaveLength(0);
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const files = await partsOf('conversations');
    const [row] = (
      await db.runAndReadAll(
        `SELECT count(*) AS n FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`,
      )
    ).getRowObjectsJS();
    expect(Number(row?.n)).toBe(archived);
    db.closeSync();
  });

  it('when it runs again with nothing new, then every part has the same bytes (a rewrite is harmless)', async () => {
    const before = new Map<string, string>();
    for await (const o of store.list('tables/')) before.set(o.key, o.etag);
    const handler = createTablesWriterHandler(async () => ({
      store,
      clock: systemClock,
      log: silentTelemetry.log,
    }));
    const again = (await handler({}, context)) as TablesWriterOutput;
    const after = new Map<string, string>();
    for await (const o of store.list('tables/')) after.set(o.key, o.etag);
    expect(again.parts).toBe(output.parts);
    expect(after).toEqual(before);
  });

  it('when the look-back ends before the run started, then nothing is written', async () => {
    const handler = createTablesWriterHandler(async () => ({
      store,
      clock: { ...systemClock, now: () => Date.now() + 48 * 3_600_000 },
      log: silentTelemetry.log,
    }));
    expect(await handler({ lookbackHours: 1 }, context)).toMatchObject({ runs: 0, parts: 0 });
  });
});

describe('the Glue tables against the Parquet the writer wrote', () => {
  /** DuckDB's reading of a Parquet column, in Glue's terms. */
  const GLUE_OF_DUCKDB: Record<string, string> = {
    VARCHAR: 'string',
    INTEGER: 'int',
    BIGINT: 'bigint',
    DOUBLE: 'double',
    BOOLEAN: 'boolean',
    TIMESTAMP: 'timestamp',
    // The JSON logical type: Athena reads the bytes as a string.
    JSON: 'string',
  };

  it("when each table's part is described by DuckDB, then the Glue table declares the same columns, in order, with the matching types", async () => {
    const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
      env: { account: '123456789012', region: 'us-east-1' },
      inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' }),
      tables: { organizationIds: ['org'] },
    });
    const resources = Template.fromStack(stack).toJSON().Resources as Record<
      string,
      {
        Type: string;
        Properties: {
          TableInput: { Name: string; StorageDescriptor: { Columns: { Name: string; Type: string }[] } };
        };
      }
    >;
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    for (const table of TABLES) {
      const [file] = await partsOf(table.name);
      const described = (
        await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false)`)
      ).getRowObjectsJS();
      const glue = Object.values(resources).find(
        (r) => r.Type === 'AWS::Glue::Table' && r.Properties.TableInput.Name === table.name,
      );
      expect(
        glue?.Properties.TableInput.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]),
        table.name,
      ).toEqual(
        described.map((d) => [
          d.column_name,
          GLUE_OF_DUCKDB[String(d.column_type)] ?? `unmapped ${d.column_type}`,
        ]),
      );
    }
    db.closeSync();
  });

  it('when the timestamp columns are read from the Parquet footer, then they are INT64 milliseconds (Glue reads no nanoseconds)', async () => {
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const timestamped = TABLES.filter((t) => t.columns.some((c) => c.type === 'timestamp_ms'));
    for (const table of timestamped) {
      const [file] = await partsOf(table.name);
      const schema = (await db.runAndReadAll(`SELECT * FROM parquet_schema('${file}')`)).getRowObjectsJson();
      for (const column of table.columns.filter((c) => c.type === 'timestamp_ms')) {
        const found = schema.find((s) => s.name === column.name);
        expect(found?.type, `${table.name}.${column.name}`).toBe('INT64');
        // Either annotation says milliseconds; DuckDB shows the one the writer set.
        expect(`${found?.converted_type} ${found?.logical_type}`, `${table.name}.${column.name}`).toMatch(
          /TIMESTAMP_MILLIS|MILLIS=MilliSeconds/,
        );
        expect(`${found?.converted_type} ${found?.logical_type}`).not.toMatch(/MICROS|NANOS/);
      }
    }
    db.closeSync();
  });

  it('when the mapping is read, then every column type of the schema has a Glue type', () => {
    const types: ColumnType[] = ['string', 'int32', 'int64', 'double', 'boolean', 'timestamp_ms', 'json'];
    expect(types.map((t) => GLUE_TYPES[t])).toEqual([
      'string',
      'int',
      'bigint',
      'double',
      'boolean',
      'timestamp',
      'string',
    ]);
  });
});

describe('query on the laptop', () => {
  it('when the format is json, then it prints an array of row objects: counts as numbers, timestamps ISO, JSON columns parsed', async () => {
    const { code, out } = await query(
      'SELECT count(*) AS n, min(created_at) AS first, any_value(flags) AS flags FROM conversations',
      { format: 'json' },
    );
    const rows = JSON.parse(out) as Array<{ n: unknown; first: unknown; flags: unknown }>;
    expect(code).toBe(0);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.n).toBe(archived);
    expect(rows[0]?.first).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Array.isArray(rows[0]?.flags)).toBe(true);
  });

  it('when a count is beyond the exact range of a JS number, then json gives it as a string', async () => {
    const { out } = await query('SELECT 9007199254740993::BIGINT AS big, 7::BIGINT AS small', {
      format: 'json',
    });
    expect(JSON.parse(out)).toEqual([{ big: '9007199254740993', small: 7 }]);
  });

  it('when the format is csv, then there is a header and one line per row, with fields quoted where needed', async () => {
    const { out } = await query(
      `SELECT conversation_id, 'a,b "c"' AS odd FROM conversations ORDER BY conversation_id`,
      { format: 'csv' },
    );
    const lines = out.split('\n');
    expect(lines[0]).toBe('conversation_id,odd');
    expect(lines).toHaveLength(archived + 1);
    expect(lines[1]).toMatch(/^[^,]+,"a,b ""c"""$/);
  });

  it('when the format is table, then columns are aligned under a header and the row count closes it', async () => {
    const { out } = await query(
      'SELECT service_id, count(*) AS n FROM conversations GROUP BY 1 ORDER BY 1',
      {},
    );
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^service_id +n$/);
    expect(lines[1]).toMatch(/^-+ +-+$/);
    const total = lines.slice(2, -1).reduce((sum, line) => sum + Number(line.trim().split(/\s+/).at(-1)), 0);
    expect(total).toBe(archived);
    expect(lines.at(-1)).toBe(`(${lines.length - 3} ${lines.length - 3 === 1 ? 'row' : 'rows'})`);
  });

  it('when --list is given, then every named query is printed with its description, and no archive is needed', async () => {
    const out: string[] = [];
    expect(await queryCommand(undefined, { list: true }, (t) => out.push(t))).toBe(0);
    for (const q of NAMED_QUERIES) expect(out.join('\n')).toContain(`${q.name}\n  ${q.description}`);
  });

  it('when --named names a query, then it prints what that SQL prints', async () => {
    for (const name of ['rule-matches', 'drop-off-states']) {
      const sql = NAMED_QUERIES.find((q) => q.name === name)?.sql;
      const named = await query(undefined, { named: name, format: 'json' });
      const direct = await query(sql, { format: 'json' });
      expect(JSON.parse(named.out)).toEqual(JSON.parse(direct.out));
      expect(JSON.parse(named.out), name).not.toHaveLength(0);
    }
  });

  it('when --named names no query, then it is refused listing the names', async () => {
    const error = await query(undefined, { named: 'stalls-per-servic' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).field).toBe('--named');
    for (const q of NAMED_QUERIES) expect((error as Error).message).toContain(q.name);
  });

  it('when the format is unknown or the SQL missing, then the flag is named before the archive is read', async () => {
    const format = await query('SELECT 1', { format: 'xml', archive: '/nonexistent' }).catch(
      (e: unknown) => e,
    );
    expect((format as ConfigurationError).field).toBe('--format');
    const missing = await query(undefined, {}).catch((e: unknown) => e);
    expect((missing as ConfigurationError).field).toBe('SQL');
  });

  it("when the SQL is wrong, then the command exits 1 with DuckDB's reason in one line and the hint", async () => {
    const home = await mkdtemp(join(tmpdir(), 'query-home-'));
    scratch.push(home);
    const result = await runCli(['query', '--archive', root, 'SELECT nope FROM conversations'], {
      cwd: REPO,
      env: baseEnv(home),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^amigo-qa: The query failed: Binder Error: .*nope/m);
    expect(result.stderr).toMatch(/hint: Fix the SQL/);
    expect(result.stdout).toBe('');
  });

  it('when the archive has no tables yet, then it is refused with the tables rebuild command', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-tables-'));
    scratch.push(empty);
    const error = await queryCommand('SELECT 1', { archive: empty }, () => undefined).catch(
      (e: unknown) => e,
    );
    expect((error as ConfigurationError).field).toBe('--archive');
    expect((error as ConfigurationError).hint).toContain(`tables rebuild --archive ${empty}`);
  });

  it('when a table has no parts, then its view is empty and a note says how to build it', async () => {
    const partial = await mkdtemp(join(tmpdir(), 'partial-tables-'));
    scratch.push(partial);
    await cp(join(root, 'tables', 'conversations'), join(partial, 'tables', 'conversations'), {
      recursive: true,
    });
    const out: string[] = [];
    const err: string[] = [];
    await queryCommand(
      'SELECT count(*) AS n FROM stalls',
      { archive: partial, format: 'json' },
      (t) => out.push(t),
      (t) => err.push(t),
    );
    expect(JSON.parse(out.join(''))).toEqual([{ n: 0 }]);
    expect(err.join('\n')).toMatch(/stalls has no Parquet parts .*tables rebuild --archive/);
  });

  it('when the archive is in S3, then its tables are fetched and answer the same', async () => {
    let aws: LocalAws | undefined;
    const saved = { ...process.env };
    try {
      aws = await startLocalAws();
      const client = new S3Client({
        region: aws.region,
        endpoint: aws.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      await client.send(new CreateBucketCommand({ Bucket: 'qa-query' }));
      const s3 = new S3ArchiveStore({ client, bucket: 'qa-query', prefix: 'amigo' });
      for await (const o of store.list('tables/')) {
        const body = await store.get(o.key);
        if (body) await s3.put(o.key, body.body);
      }
      Object.assign(process.env, {
        AWS_REGION: aws.region,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_S3: aws.endpoint,
      });
      const local = await query('SELECT count(*) AS n FROM messages', { format: 'json' });
      const remote = await query('SELECT count(*) AS n FROM messages', {
        format: 'json',
        archive: 's3://qa-query/amigo',
      });
      expect(JSON.parse(remote.out)).toEqual(JSON.parse(local.out));
      expect((JSON.parse(local.out) as Array<{ n: number }>)[0]?.n).toBeGreaterThan(0);
    } finally {
      process.env = saved;
      await aws?.stop();
    }
  });

  it("when a query error is not the table being absent, then it is a QueryError naming DuckDB's reason", async () => {
    const error = await query('SELEC 1', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as Error).message).toMatch(/Parser Error/);
  });
});
