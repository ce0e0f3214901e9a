// The Parquet encoder read back by DuckDB (an independent reader): the columns and types of every
// table as shared/tables/schema.ts says, row groups as they fill, and the same bytes for the same rows.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DUCKDB_TYPES } from '../../../shared/tables/duckdb.ts';
import { PartEncoder } from '../../../shared/tables/parquet.ts';
import type { Row } from '../../../shared/tables/rows.ts';
import { type ColumnDef, TABLES, type TableDef, tableDef } from '../../../shared/tables/schema.ts';

let dir: string;
let con: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parquet-'));
  con = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(async () => {
  con?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

/** A value of the column's type that differs per row `i`. */
function sample(column: ColumnDef, i: number): unknown {
  switch (column.type) {
    case 'string':
      return `${column.name}-${i}`;
    case 'int32':
    case 'int64':
      return i * 7;
    case 'double':
      return i + 0.25;
    case 'boolean':
      return i % 2 === 0;
    case 'timestamp_ms':
      return Date.parse('2026-11-25T21:14:03.120Z') + i;
    case 'json':
      return { n: i, list: ['a', i] };
  }
}

function rowOf(table: TableDef, i: number): Row {
  return Object.fromEntries(
    table.columns.map((c) => [c.name, c.nullable && i % 3 === 2 ? null : sample(c, i)]),
  );
}

function encode(
  table: TableDef,
  rows: readonly Row[],
  rowGroupRows: number,
): { chunks: Uint8Array[]; bytes: Buffer } {
  const encoder = new PartEncoder(table, { rowGroupRows });
  const chunks: Uint8Array[] = [];
  for (const row of rows) {
    const chunk = encoder.add(row);
    if (chunk) chunks.push(chunk);
  }
  chunks.push(encoder.finish());
  return { chunks, bytes: Buffer.concat(chunks) };
}

async function read(sql: string): Promise<Record<string, unknown>[]> {
  return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

describe('the Parquet encoder', () => {
  for (const table of TABLES) {
    it(`when ${table.name} rows are encoded, then DuckDB reads each column with its type, its nullability and its values`, async () => {
      const rows = [0, 1, 2].map((i) => rowOf(table, i));
      const file = join(dir, `${table.name}.parquet`);
      await writeFile(file, encode(table, rows, 10).bytes);

      const described = await read(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
      const schema = await read(
        `SELECT name, converted_type, repetition_type FROM parquet_schema('${file}') WHERE name <> 'root'`,
      );
      const back = await read(`SELECT * FROM read_parquet('${file}')`);

      expect(described.map((d) => [d.column_name, d.column_type])).toEqual(
        table.columns.map((c) => [c.name, DUCKDB_TYPES[c.type]]),
      );
      expect(schema.map((s) => [s.name, s.repetition_type])).toEqual(
        table.columns.map((c) => [c.name, c.nullable ? 'OPTIONAL' : 'REQUIRED']),
      );
      for (const c of table.columns.filter((x) => x.type === 'timestamp_ms'))
        expect(schema.find((s) => s.name === c.name)?.converted_type).toBe('TIMESTAMP_MILLIS');
      for (const c of table.columns.filter((x) => x.type === 'json'))
        expect(schema.find((s) => s.name === c.name)?.converted_type).toBe('JSON');
      expect(back).toHaveLength(3);
      const firstString = table.columns.find((c) => c.type === 'string');
      if (firstString)
        expect(back.map((r) => r[firstString.name])).toEqual(rows.map((r) => r[firstString.name]));
      const json = table.columns.find((c) => c.type === 'json' && !c.nullable);
      if (json)
        expect(back.map((r) => JSON.parse(String(r[json.name])))).toEqual(rows.map((r) => r[json.name]));
    });
  }

  it('when more rows arrive than a row group holds, then each full group comes out at once and the file has them all', async () => {
    const table = tableDef('stalls');
    const rows = Array.from({ length: 25 }, (_, i) => rowOf(table, i));

    const { chunks, bytes } = encode(table, rows, 10);
    const file = join(dir, 'groups.parquet');
    await writeFile(file, bytes);

    expect(chunks).toHaveLength(3);
    const groups = await read(
      `SELECT row_group_id, max(row_group_num_rows) AS n FROM parquet_metadata('${file}') GROUP BY 1 ORDER BY 1`,
    );
    expect(groups.map((g) => Number(g.n))).toEqual([10, 10, 5]);
    const times = await read(`SELECT epoch_ms(requested_at) AS ms FROM read_parquet('${file}')`);
    expect(times.map((t) => Number(t.ms))).toEqual(rows.map((r) => r.requested_at));
  });

  it('when the same rows are encoded twice, then the bytes are the same', () => {
    const table = tableDef('interactions');
    const rows = Array.from({ length: 12 }, (_, i) => rowOf(table, i));

    expect(encode(table, rows, 5).bytes.equals(encode(table, rows, 5).bytes)).toBe(true);
  });

  it('when a required value is missing, then the encoder refuses naming the column', () => {
    const table = tableDef('messages');
    const encoder = new PartEncoder(table, { rowGroupRows: 1 });

    expect(() => encoder.add({ ...rowOf(table, 0), message_id: undefined })).toThrow(
      /messages\.message_id is required/,
    );
  });
});
