// A table part as Parquet, one row group at a time: rows are buffered until they fill a row group
// (`rowGroupRows` rows, or `rowGroupBytes` of estimated encoded size, whichever comes first), then
// encoded (ZSTD, from node:zlib) and handed back as bytes, so a night of rows never sits in memory,
// only one row group and the file's footer metadata. The byte budget is what keeps memory flat: rows
// vary from a short message to a tool call's JSON of tens of kilobytes, and encoding a group holds it
// several times over (the rows, their UTF-8 bytes, the pages, their compressed copies; bench/README.md,
// "tables-writer"). Pure JavaScript (hyparquet-writer), so it runs in Lambda as is. Column types come
// from shared/tables/schema.ts: timestamps as INT64 TIMESTAMP_MILLIS (Glue and Athena cannot read
// nanoseconds), json as BYTE_ARRAY annotated JSON. Nothing varies between two encodings of the same
// rows (no clock, fixed created_by, a size estimate from the rows alone), so a rebuild writes the
// same bytes.
import { zstdCompressSync } from 'node:zlib';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { Row } from './rows.ts';
import type { ColumnDef, ColumnType, TableDef } from './schema.ts';

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];
type ColumnSource = Parameters<ParquetWriter['write']>[0]['columnData'][number];

/** Rows per row group unless told otherwise: small enough for flat memory, large enough for Athena. */
export const DEFAULT_ROW_GROUP_ROWS = 10_000;

/**
 * Estimated encoded bytes per row group unless told otherwise: a group of 8 MiB peaks at a few tens
 * of MiB while it is encoded, and is still one Athena split's worth of compressed pages.
 */
export const DEFAULT_ROW_GROUP_BYTES = 8 * 1024 * 1024;

/** What `created_by` says in every part: fixed, so that two builds of the same rows are byte-identical. */
export const CREATED_BY = 'amigo-qa tables';

const PHYSICAL: Record<ColumnType, Pick<SchemaElement, 'type' | 'converted_type'>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  double: { type: 'DOUBLE' },
  boolean: { type: 'BOOLEAN' },
  timestamp_ms: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
  json: { type: 'BYTE_ARRAY', converted_type: 'JSON' },
};

/** The Parquet schema of a table: a root and one flat column per ColumnDef, in order. */
export function parquetSchema(table: TableDef): SchemaElement[] {
  return [
    { name: 'root', num_children: table.columns.length },
    ...table.columns.map(
      (c): SchemaElement => ({
        name: c.name,
        ...PHYSICAL[c.type],
        repetition_type: c.nullable ? 'OPTIONAL' : 'REQUIRED',
      }),
    ),
  ];
}

/** A value as the writer takes it for its column's type; throws when a required value is missing. */
function cell(table: TableDef, column: ColumnDef, row: Row): unknown {
  const value = row[column.name];
  if (value === null || value === undefined) {
    if (!column.nullable) throw new TypeError(`${table.name}.${column.name} is required and missing`);
    return null;
  }
  switch (column.type) {
    case 'int64':
    case 'timestamp_ms':
      return BigInt(value as number);
    default:
      return value;
  }
}

/**
 * About the bytes a row takes in its uncompressed pages: strings and JSON text by their UTF-8 length
 * (what the pages hold, plus the 4-byte length prefix), every other value as 8 bytes.
 */
export function estimateRowBytes(table: TableDef, row: Row): number {
  let bytes = 0;
  for (const column of table.columns) {
    const value = row[column.name];
    if (value === null || value === undefined) continue;
    if (column.type === 'string') bytes += 4 + Buffer.byteLength(String(value));
    else if (column.type === 'json') bytes += 4 + Buffer.byteLength(JSON.stringify(value) ?? '');
    else bytes += 8;
  }
  return bytes;
}

const compressors = { ZSTD: (bytes: Uint8Array) => new Uint8Array(zstdCompressSync(bytes)) };

/**
 * One Parquet file, encoded as rows arrive. `add` returns the bytes of a row group once one is full,
 * `finish` the rest and the footer; concatenated in order they are the file.
 */
export class PartEncoder {
  readonly table: TableDef;
  readonly #rowGroupRows: number;
  readonly #rowGroupBytes: number;
  readonly #bytes = new ByteWriter();
  readonly #writer: ParquetWriter;
  #pending: Row[] = [];
  #pendingBytes = 0;
  #rows = 0;
  #groups = 0;

  constructor(
    table: TableDef,
    options: { rowGroupRows?: number | undefined; rowGroupBytes?: number | undefined } = {},
  ) {
    this.table = table;
    this.#rowGroupRows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
    this.#rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
    this.#writer = new ParquetWriter({
      writer: this.#bytes,
      schema: parquetSchema(table),
      codec: 'ZSTD',
      compressors,
      createdBy: CREATED_BY,
    });
  }

  /** Rows added so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Row groups encoded so far. */
  get groups(): number {
    return this.#groups;
  }

  /** Buffers a row; returns the encoded row group when this row filled one (by rows or by bytes). */
  add(row: Row): Uint8Array | undefined {
    this.#pending.push(row);
    this.#pendingBytes += estimateRowBytes(this.table, row);
    this.#rows++;
    const full = this.#pending.length >= this.#rowGroupRows || this.#pendingBytes >= this.#rowGroupBytes;
    return full ? this.#flush() : undefined;
  }

  /** The last row group (if any rows are buffered) and the footer. */
  finish(): Uint8Array {
    if (this.#pending.length > 0) this.#encodeGroup();
    this.#writer.finish();
    return this.#take();
  }

  #flush(): Uint8Array {
    this.#encodeGroup();
    return this.#take();
  }

  #encodeGroup(): void {
    const rows = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#groups++;
    const columnData: ColumnSource[] = this.table.columns.map((column) => ({
      name: column.name,
      data: rows.map((row) => cell(this.table, column, row)),
      nullable: column.nullable,
      // Min/max of whole JSON documents prune nothing and would sit, untruncated, in the footer.
      statistics: column.type !== 'json',
    }));
    this.#writer.write({ columnData, rowGroupSize: rows.length });
  }

  /** The bytes written since the last take; the writer keeps counting offsets across takes. */
  #take(): Uint8Array {
    const out = this.#bytes.getBytes().slice();
    this.#bytes.index = 0;
    return out;
  }
}
