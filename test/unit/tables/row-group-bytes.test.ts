// Row groups bounded by bytes as well as rows (shared/tables/parquet.ts): wide rows (long text, a
// tool call's JSON) close a group long before the row cap, so encoding one never holds more than
// about the byte budget of rows. Read back by DuckDB's parquet_metadata(), an independent reader.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_ROW_GROUP_BYTES,
  DEFAULT_ROW_GROUP_ROWS,
  estimateRowBytes,
  PartEncoder,
} from '../../../shared/tables/parquet.ts';
import type { Row } from '../../../shared/tables/rows.ts';
import { type TableDef, tableDef } from '../../../shared/tables/schema.ts';

let dir: string;
let con: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'row-group-bytes-'));
  con = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(async () => {
  con?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

const KB100 = 100 * 1024;

/** 100 KB of text that differs per row (so no dictionary shrinks it), `é` making it 2 bytes a char. */
function text(i: number, char: string): string {
  return `${i}:`.padEnd(KB100 / Buffer.byteLength(char), char);
}

function messageRow(i: number, char: string): Row {
  return {
    conversation_id: 'c'.repeat(24),
    message_id: `m${i}`,
    interaction_id: `i${i}`,
    position: i,
    message_type: 'agent-message',
    format: 'text',
    sender: null,
    message: text(i, char),
    created_at: Date.parse('2026-11-25T21:14:03.120Z') + i,
    audio_key: null,
  };
}

function interactionRow(i: number): Row {
  return {
    conversation_id: 'c'.repeat(24),
    interaction_id: `i${i}`,
    position: i,
    current_state_name: 'triage',
    current_state_action: null,
    current_state_objective: null,
    state_transition_logs: [],
    transitions: 0,
    tool_calls: [{ tool_name: 'lookup', output: text(i, 'x') }],
    tool_call_count: 1,
    reflections: [],
    working_memory: [],
  };
}

/** Encodes the rows (default limits unless given); returns each row group's rows, as DuckDB reads them. */
async function groupRows(
  table: TableDef,
  rows: readonly Row[],
  name: string,
  rowGroupBytes?: number,
): Promise<number[]> {
  const encoder = new PartEncoder(table, { rowGroupBytes });
  const chunks: Uint8Array[] = [];
  for (const row of rows) {
    const chunk = encoder.add(row);
    if (chunk) chunks.push(chunk);
  }
  chunks.push(encoder.finish());
  const file = join(dir, `${name}.parquet`);
  await writeFile(file, Buffer.concat(chunks));
  const groups = (
    await con.runAndReadAll(
      `SELECT row_group_id, max(row_group_num_rows) AS n FROM parquet_metadata('${file}') GROUP BY 1 ORDER BY 1`,
    )
  ).getRowObjectsJson();
  return groups.map((g) => Number(g.n));
}

/** The rows a group holds under a byte budget: it closes on the row that reaches it. */
function rowsPerGroup(table: TableDef, row: Row, budget = DEFAULT_ROW_GROUP_BYTES): number {
  return Math.ceil(budget / estimateRowBytes(table, row));
}

/** A small budget where the default is not the point: the test stays cheap (CI time). */
const MiB = 1024 * 1024;

describe('row groups bounded by bytes', () => {
  it('when rows of 100 KB text arrive, then each row group closes at the default byte budget, long before the row cap', async () => {
    const table = tableDef('messages');
    const perGroup = rowsPerGroup(table, messageRow(0, 'x'));
    // One full group and one row more: enough to see where the first closed.
    const rows = Array.from({ length: perGroup + 1 }, (_, i) => messageRow(i, 'x'));

    const groups = await groupRows(table, rows, 'text');

    expect(perGroup).toBeLessThan(DEFAULT_ROW_GROUP_ROWS / 10);
    expect(groups).toEqual([perGroup, 1]);
  });

  it('when the text is multi-byte, then the budget counts its UTF-8 bytes, not its characters', async () => {
    const table = tableDef('messages');
    const ascii = rowsPerGroup(table, messageRow(0, 'x'), MiB);
    const rows = Array.from({ length: 2 * ascii }, (_, i) => messageRow(i, 'é'));

    const groups = await groupRows(table, rows, 'utf8', MiB);

    // Half as many characters per row, the same bytes: as many rows per group as ASCII text.
    expect(groups).toEqual([ascii, ascii]);
  });

  it('when interactions carry 100 KB of tool-call JSON, then their groups close at the byte budget too', async () => {
    const table = tableDef('interactions');
    const perGroup = rowsPerGroup(table, interactionRow(0), MiB);
    const rows = Array.from({ length: 2 * perGroup + 1 }, (_, i) => interactionRow(i));

    const groups = await groupRows(table, rows, 'json', MiB);

    expect(groups).toEqual([perGroup, perGroup, 1]);
  });
});
