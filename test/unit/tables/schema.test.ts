import { describe, expect, it } from 'vitest';
import { NAMED_QUERIES } from '../../../shared/tables/named-queries.ts';
import {
  MANUAL_RUN_ID,
  PARTITION_KEYS,
  parseTablePartKey,
  TABLES,
  type TableName,
  tableDef,
  tablePartKey,
} from '../../../shared/tables/schema.ts';

describe('the tables schema', () => {
  it('when the tables are listed, then they are the five of the issue in order, each with conversation_id first', () => {
    expect(TABLES.map((t) => t.name)).toEqual([
      'conversations',
      'messages',
      'interactions',
      'tags',
      'stalls',
    ]);
    for (const t of TABLES) expect(t.columns[0]).toMatchObject({ name: 'conversation_id', nullable: false });
  });

  it('when a table is looked up by name, then it is the listed definition', () => {
    for (const t of TABLES) expect(tableDef(t.name)).toBe(t);
  });

  it('when the tags table is read, then it has key, value, rule and action', () => {
    const names = tableDef('tags').columns.map((c) => c.name);

    expect(names).toEqual(expect.arrayContaining(['key', 'value', 'rule', 'action']));
  });

  it('when column names are compared, then none repeats within a table and none is a partition key', () => {
    const partitions = PARTITION_KEYS.map((p) => p.name as string);
    for (const t of TABLES) {
      const names = t.columns.map((c) => c.name);
      expect(new Set(names).size, t.name).toBe(names.length);
      for (const name of names) {
        expect(partitions, `${t.name}.${name}`).not.toContain(name);
        expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
      }
    }
  });

  it('when a part key is built, then it is tables/<table>/org=<org>/date=<day>/<run>.parquet and parses back', () => {
    const key = tablePartKey('messages', 'acme', '2026-11-25', '2026-11-26T02-00-00Z-a1b2c3');

    expect(key).toBe('tables/messages/org=acme/date=2026-11-25/2026-11-26T02-00-00Z-a1b2c3.parquet');
    expect(parseTablePartKey(key)).toEqual({
      table: 'messages',
      organizationId: 'acme',
      date: '2026-11-25',
      runId: '2026-11-26T02-00-00Z-a1b2c3',
    });
    expect(parseTablePartKey(tablePartKey('stalls', 'acme', '2026-01-02', MANUAL_RUN_ID))?.runId).toBe(
      'manual',
    );
  });

  it('when a key is not a part (another table, another file, no date), then it does not parse', () => {
    for (const key of [
      'tables/other/org=acme/date=2026-11-25/r.parquet',
      'tables/messages/org=acme/date=2026-11-25/r.json',
      'tables/messages/org=acme/r.parquet',
      'conversations/org=acme/date=2026-11-25/conversation=c/manifest.json',
    ])
      expect(parseTablePartKey(key), key).toBeUndefined();
  });

  it('when the named queries are listed, then they have unique kebab-case names and cover the five questions', () => {
    const names = NAMED_QUERIES.map((q) => q.name);

    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(names).toEqual(
      expect.arrayContaining([
        'stalls-per-service',
        'rule-matches',
        'drop-off-states',
        'tool-latency-p95',
        'num-messages-mismatch',
      ]),
    );
  });

  it('when a named query is read, then it names only tables of the schema and no engine-specific function', () => {
    const tables = new Set<string>(TABLES.map((t) => t.name));
    for (const q of NAMED_QUERIES) {
      const referenced = [...q.sql.matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)/gi)].map((m) => m[1] as string);
      const own = [...q.sql.matchAll(/\b([a-z_]+) AS \(/gi)].map((m) => m[1] as string);
      for (const name of referenced)
        if (!own.includes(name)) expect(tables.has(name as TableName), `${q.name}: ${name}`).toBe(true);
      expect(q.sql, q.name).not.toMatch(/approx_percentile|quantile|json_extract_string|->>|::|UNNEST/i);
    }
  });
});
