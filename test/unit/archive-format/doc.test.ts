// docs/archive-format.md is the public description of the archive; shared/archive-format/ is what
// the code writes and reads. This keeps them one: the doc's key table lists exactly the module's
// keys, and each document's field table names exactly its schema's top-level fields (a dotted
// name, `counts.messages`, must exist in the schema too). A field added to a schema without a line
// in the doc fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { DATA_FILES, DOCUMENTS, ManifestSchema } from '../../../shared/archive-format/documents.ts';

const DOC = readFileSync(new URL('../../../docs/archive-format.md', import.meta.url), 'utf8');

interface Table {
  readonly header: string[];
  /** The backticked names of each row's first cell. */
  readonly firstCells: string[][];
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());
}

function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** Every Markdown table of `text`, in order. */
function tables(text: string): Table[] {
  const out: Table[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const separator = lines[i + 1] ?? '';
    if (!lines[i]?.trim().startsWith('|') || !/^\s*\|\s*:?-{3,}/.test(separator)) continue;
    const header = cells(lines[i] as string);
    const firstCells: string[][] = [];
    let j = i + 2;
    for (; lines[j]?.trim().startsWith('|'); j++)
      firstCells.push(codeSpans(cells(lines[j] as string)[0] ?? ''));
    out.push({ header, firstCells });
    i = j;
  }
  return out;
}

/** The `### `key`` sections of the doc: key -> the section's text up to the next heading. */
function documentSections(): Map<string, string> {
  const out = new Map<string, string>();
  const parts = DOC.split(/^(?=#{1,3} )/m);
  for (const part of parts) {
    const heading = /^### `([^`]+)`/.exec(part);
    if (heading) out.set(heading[1] as string, part);
  }
  return out;
}

/** The schema of `path` (dot-separated) inside an object schema, through optional, nullable, arrays. */
function fieldSchema(schema: z.ZodType, path: readonly string[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const name of path) {
    current = unwrap(current as z.ZodType);
    const shape = objectShape(current);
    if (!shape || !Object.hasOwn(shape, name)) return undefined;
    current = shape[name];
  }
  return current;
}

function unwrap(schema: z.ZodType): z.ZodType {
  const def = schema._zod.def as unknown as {
    type: string;
    innerType?: z.ZodType;
    element?: z.ZodType;
    in?: z.ZodType;
  };
  if (['optional', 'nullable', 'default', 'prefault', 'readonly'].includes(def.type) && def.innerType) {
    return unwrap(def.innerType);
  }
  if (def.type === 'array' && def.element) return unwrap(def.element);
  if (def.type === 'pipe' && def.in) return unwrap(def.in);
  return schema;
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = schema._zod.def as unknown as { type: string; shape?: Record<string, z.ZodType> };
  return def.type === 'object' ? def.shape : undefined;
}

describe('docs/archive-format.md', () => {
  it('when its key table is read, then it lists exactly the keys the module defines', () => {
    // Arrange
    const keyTable = tables(DOC).find((t) => t.header[0] === 'key');
    const moduleKeys = [...Object.values(DOCUMENTS).map((d) => d.key), ...DATA_FILES];

    // Act
    const documented = keyTable?.firstCells.flat() ?? [];

    // Assert
    expect([...documented].sort()).toEqual([...moduleKeys].sort());
  });

  it('when its example manifest is read, then it is a valid manifest', () => {
    // Arrange
    const example = /```json\n([\s\S]*?)\n```/.exec(DOC)?.[1] ?? '';
    const sha = 'a'.repeat(64);

    // Act
    const parsed = ManifestSchema.safeParse(JSON.parse(example.replaceAll('"…"', `"${sha}"`)));

    // Assert
    expect(parsed.error?.issues ?? []).toEqual([]);
  });

  it.each(Object.entries(DOCUMENTS).map(([name, spec]) => ({ name, key: spec.key, schema: spec.schema })))(
    'when the $name section is read, then its field table names exactly the schema’s top-level fields',
    ({ key, schema }) => {
      // Arrange
      const section = documentSections().get(key);
      expect(section, `docs/archive-format.md has no "### \`${key}\`" section`).toBeDefined();
      const fieldTable = tables(section ?? '').find((t) => t.header[0] === 'field');
      expect(fieldTable, `the section of ${key} has no | field | meaning | table`).toBeDefined();

      // Act
      const names = fieldTable?.firstCells.flat() ?? [];
      const topLevel = new Set(names.map((n) => n.split('.')[0] as string));
      const unknown = names.filter((n) => fieldSchema(schema, n.split('.')) === undefined);

      // Assert
      expect(unknown, 'fields the doc lists that the schema does not have').toEqual([]);
      expect([...topLevel].sort()).toEqual(Object.keys(schema.shape).sort());
    },
  );
});
