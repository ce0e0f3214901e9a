// Reading the files operators write (the pipeline config, the rules): YAML or JSON by extension,
// syntax errors and unreadable paths reported with the path and the fix, and a way back from a
// value's path to its line so that validation errors can point at it. Also the typo suggester.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigurationError } from '../errors.ts';

export type ValuePath = ReadonlyArray<string | number>;

export interface SourceFile {
  /** The parsed content (plain objects, arrays and scalars). */
  readonly input: unknown;
  /** The 1-based line of the value at `path` (or its nearest parent); undefined for JSON. */
  readonly lineOf: ((path: ValuePath) => number | undefined) | undefined;
}

/**
 * Reads a `.yaml`, `.yml` or `.json` file. `what` names it in errors ("config file", "rules file");
 * `pathFix` is the advice when the path is wrong.
 */
export function readSourceFile(path: string, what: string, pathFix: string): SourceFile {
  const ext = extname(path).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(ext)) {
    throw new ConfigurationError(
      path,
      ext ? `has the extension "${ext}"` : 'has no extension',
      `Name the ${what} with .yaml, .yml or .json`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ConfigurationError(
      path,
      code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code})`,
      pathFix,
    );
  }
  if (ext === '.json') {
    try {
      return { input: JSON.parse(text), lineOf: undefined };
    } catch (error) {
      throw new ConfigurationError(
        path,
        `is not valid JSON: ${(error as Error).message}`,
        'Check the commas and quotes near that position, or write the file as YAML',
      );
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    throw new ConfigurationError(
      path,
      `is not valid YAML: ${syntax.message.split('\n')[0]}`,
      'Check the indentation (spaces, not tabs), the colons and the quoting on that line',
    );
  }
  const lineOf = (p: ValuePath): number | undefined => {
    for (let n = p.length; n > 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { input: doc.toJS({ maxAliasCount: 100 }), lineOf };
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (row[j - 1] as number) + 1,
        (prev[j] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The closest candidate to `word`, when one is close enough to be a typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => norm(c) === norm(word));
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(norm(word), norm(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : undefined;
}
