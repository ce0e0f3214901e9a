// The laptop side of the SQL tables: DuckDB (embedded, in this process) over the Parquet parts
// under `tables/`, with one view per table named as in Athena, so a named query or an analyst's SQL
// runs unchanged in both. DuckDB reads only local files here (its httpfs extension is not bundled
// and would be downloaded), so an S3 archive's parts are copied to a temporary folder first
// (materializeTables).

import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  type DuckDBConnection,
  DuckDBDecimalValue,
  DuckDBInstance,
  type DuckDBResultReader,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  type DuckDBValueConverter,
  type Json,
  JsonDuckDBValueConverter,
} from '@duckdb/node-api';
import { PermanentError } from '../errors.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';
import { duckdbSetupSql } from '../tables/duckdb.ts';
import { parseTablePartKey, TABLES, TABLES_PREFIX, type TableName } from '../tables/schema.ts';

/** A query the engine could not run (syntax, an unknown column), or parts it could not open. */
export class QueryError extends PermanentError {}

export interface QueryResult {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  /** Row objects in JSON terms: see `converter`. */
  readonly rows: readonly Record<string, Json>[];
}

export interface TablesEngine {
  /** Tables that have at least one part (the others are empty views). */
  readonly tables: readonly TableName[];
  query(sql: string): Promise<QueryResult>;
  close(): void;
}

/** Every part file under `tablesDir`, by table (`<table>/org=*\/date=*\/*.parquet`), in key order. */
async function partFiles(tablesDir: string): Promise<Map<TableName, string[]>> {
  const files = new Map<TableName, string[]>();
  for (const { name } of TABLES) {
    const found: string[] = [];
    const entries = await readdir(join(tablesDir, name), { recursive: true }).catch(() => []);
    for (const entry of entries.sort()) {
      const segments = entry.split(sep);
      // The folder store's own files (temp, etag sidecars) start with `.~`: never a part.
      if (segments.some((segment) => segment.startsWith('.'))) continue;
      if (parseTablePartKey(`${TABLES_PREFIX}${name}/${segments.join('/')}`))
        found.push(join(tablesDir, name, entry));
    }
    files.set(name, found);
  }
  return files;
}

/**
 * Opens an in-memory DuckDB with a view per table over the parts under `tablesDir` (the archive's
 * `tables/` folder), set up exactly as the named queries' own tests set it up (shared/tables/duckdb.ts):
 * partition columns as strings, UTC, Trino's json_extract_scalar. A table without parts is an
 * empty view, so a query over it answers no rows rather than failing.
 */
export async function openTablesEngine(tablesDir: string, hint: string): Promise<TablesEngine> {
  const files = await partFiles(tablesDir);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const statement of duckdbSetupSql((t) => files.get(t.name) ?? [])) await connection.run(statement);
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    const reason = firstLines(error instanceof Error ? error.message : String(error));
    throw new QueryError(`The tables could not be opened: ${reason}`, {
      cause: error,
      hint,
    });
  }
  return {
    tables: TABLES.filter((t) => (files.get(t.name)?.length ?? 0) > 0).map((t) => t.name),
    query: (sql) => runQuery(connection, sql),
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

async function runQuery(connection: DuckDBConnection, sql: string): Promise<QueryResult> {
  let result: DuckDBResultReader;
  try {
    result = await connection.runAndReadAll(sql);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new QueryError(`The query failed: ${firstLines(message)}`, {
      hint: 'Fix the SQL: the tables and their columns are in docs/tables.md, `query --list` shows the named queries',
    });
  }
  // `select a.id, b.id` names two columns `id`: each keeps its own key (id, id_1) in a row object.
  const names = result.deduplicatedColumnNames();
  const types = result.columnTypes();
  // The column types, not each vector's: only they keep the JSON alias of a JSON column.
  const rows = result.getRows().map((values) =>
    Object.fromEntries(
      names.map((name, i) => {
        const type = types[i];
        const value = values[i] ?? null;
        return [name, type === undefined ? null : converter(value, type, converter)];
      }),
    ),
  );
  return { columns: names.map((name, i) => ({ name, type: String(types[i]) })), rows };
}

/** DuckDB's messages repeat the query with a caret over several lines: the first two say it. */
function firstLines(message: string): string {
  return message.split('\n').slice(0, 2).join(' ').trim();
}

function timestampMillis(value: DuckDBValue): number | undefined {
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue)
    return Number(value.micros / 1000n);
  if (value instanceof DuckDBTimestampMillisecondsValue) return Number(value.millis);
  if (value instanceof DuckDBTimestampSecondsValue) return Number(value.seconds) * 1000;
  if (value instanceof DuckDBTimestampNanosecondsValue) return Number(value.nanos / 1_000_000n);
  return undefined;
}

/**
 * JSON terms for a row: integers as numbers while exact (else strings), decimals as numbers,
 * timestamps as ISO 8601 in UTC, JSON columns parsed, lists and structs as arrays and objects.
 */
const converter: DuckDBValueConverter<Json> = (value, type: DuckDBType, self) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT: {
      const big = BigInt(String(value));
      return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(big)
        : big.toString();
    }
    case DuckDBTypeId.DECIMAL:
      return value instanceof DuckDBDecimalValue ? value.toDouble() : Number(String(value));
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_NS: {
      const millis = timestampMillis(value);
      const date = millis === undefined ? undefined : new Date(millis);
      return date && Number.isFinite(date.getTime()) ? date.toISOString() : String(value);
    }
    case DuckDBTypeId.VARCHAR:
      if (type.alias === 'JSON') {
        try {
          return JSON.parse(String(value)) as Json;
        } catch {
          return String(value);
        }
      }
      return String(value);
    default:
      return JsonDuckDBValueConverter(value, type, self);
  }
};

/**
 * Copies every part under the store's `tables/` to a new temporary folder (DuckDB reads local files
 * only here) and returns that folder's `tables` path; the caller removes `root` when done.
 */
export async function materializeTables(store: ArchiveStore): Promise<{ root: string; tablesDir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'amigo-qa-tables-'));
  try {
    for await (const object of store.list(TABLES_PREFIX)) {
      if (!parseTablePartKey(object.key)) continue;
      const body = await store.getStream(object.key);
      if (!body) continue; // replaced between the listing and the read: the next query sees it
      const path = join(root, ...object.key.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await pipeline(body, createWriteStream(path));
    }
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return { root, tablesDir: join(root, TABLES_PREFIX) };
}
