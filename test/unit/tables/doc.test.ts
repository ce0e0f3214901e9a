// docs/tables.md describes the tables people query; shared/tables/schema.ts is what the writer,
// the Glue tables and the DuckDB views are built from. This keeps them one: each table's section
// lists exactly its columns, in order, with their type and nullability, and the named queries'
// table names exactly the named queries.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NAMED_QUERIES } from '../../../shared/tables/named-queries.ts';
import { TABLES } from '../../../shared/tables/schema.ts';

const DOC = readFileSync(new URL('../../../docs/tables.md', import.meta.url), 'utf8');

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());
}

/** The rows of the first Markdown table in `text` (header and separator left out). */
function firstTable(text: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex(
    (l, i) => l.trim().startsWith('|') && /^\s*\|\s*-{3,}/.test(lines[i + 1] ?? ''),
  );
  if (start < 0) return [];
  const out: string[][] = [];
  for (let j = start + 2; lines[j]?.trim().startsWith('|'); j++) out.push(cells(lines[j] as string));
  return out;
}

function section(heading: string): string {
  const at = DOC.indexOf(`\n### \`${heading}\`\n`);
  if (at < 0) return '';
  const next = DOC.indexOf('\n#', at + 5);
  return DOC.slice(at, next < 0 ? undefined : next);
}

describe('docs/tables.md', () => {
  for (const table of TABLES) {
    it(`when the ${table.name} section is read, then its column table is the schema's columns, types and nullability in order`, () => {
      const rows = firstTable(section(table.name));

      expect(rows.map(([name, type, nullable]) => [name, type, nullable])).toEqual(
        table.columns.map((c) => [`\`${c.name}\``, c.type, c.nullable ? 'yes' : 'no']),
      );
    });
  }

  it('when the named queries table is read, then it names every named query, in order', () => {
    const at = DOC.indexOf('| name ');
    const rows = firstTable(DOC.slice(at));

    expect(rows.map(([name]) => name)).toEqual(NAMED_QUERIES.map((q) => `\`${q.name}\``));
  });
});
