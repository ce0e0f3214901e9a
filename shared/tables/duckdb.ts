// How DuckDB sees the tables exactly as Athena does: one view per table over its Parquet parts,
// the partition columns `org` and `date` typed as strings (as Glue has them), UTC as the session
// time zone (Athena's), and `json_extract_scalar` (Trino's name; DuckDB calls it
// json_extract_string). Pure SQL text: whoever holds a DuckDB connection runs it, so the laptop's
// `query` command and the tests set up the very same views.
import { type ColumnType, TABLES, type TableDef } from './schema.ts';

/** Statements to run once per connection before any named query. */
export const DUCKDB_PRELUDE: readonly string[] = [
  "SET TimeZone = 'UTC'",
  'CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)',
];

export const DUCKDB_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  int32: 'INTEGER',
  int64: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp_ms: 'TIMESTAMP',
  json: 'JSON',
};

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * `CREATE VIEW <table>` over the given local Parquet files (the part keys' paths, so that `org=` and
 * `date=` folders give the partition columns). No file: an empty view with the same columns.
 */
export function duckdbViewSql(table: TableDef, files: readonly string[]): string {
  if (files.length === 0) {
    const columns = [
      ...table.columns.map((c) => `CAST(NULL AS ${DUCKDB_TYPES[c.type]}) AS "${c.name}"`),
      'CAST(NULL AS VARCHAR) AS org',
      'CAST(NULL AS VARCHAR) AS "date"',
    ];
    return `CREATE OR REPLACE VIEW ${table.name} AS SELECT ${columns.join(', ')} WHERE false`;
  }
  const list = `[${files.map(literal).join(', ')}]`;
  return `CREATE OR REPLACE VIEW ${table.name} AS SELECT * FROM read_parquet(${list}, hive_partitioning = true, hive_types = {'org': VARCHAR, 'date': VARCHAR}, union_by_name = true)`;
}

/** The prelude and every table's view, for the part files found per table. */
export function duckdbSetupSql(filesByTable: (table: TableDef) => readonly string[]): string[] {
  return [...DUCKDB_PRELUDE, ...TABLES.map((t) => duckdbViewSql(t, filesByTable(t)))];
}
