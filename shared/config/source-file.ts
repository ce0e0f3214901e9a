// Reading the files operators write (the pipeline config, the rules): YAML or JSON by extension,
// syntax errors and unreadable paths reported with the path and the fix, and a way back from a
// value's path to its line so that validation errors can point at it. The parsers themselves take
// plain values (pipeline-config.ts, rules/schema.ts): the Lambda functions parse what their bundle
// carries and never import this module, so the YAML parser stays out of their bundles.
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigurationError } from '../errors.ts';
import { parseRules, type RuleSet } from '../rules/schema.ts';
import { type PipelineConfig, parsePipelineConfig } from './pipeline-config.ts';
import type { Path } from './validation.ts';

export interface SourceFile {
  /** The parsed content (plain objects, arrays and scalars). */
  readonly input: unknown;
  /** The 1-based line of the value at `path` (or its nearest parent); undefined for JSON. */
  readonly lineOf: ((path: Path) => number | undefined) | undefined;
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
  const lineOf = (p: Path): number | undefined => {
    for (let n = p.length; n > 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { input: doc.toJS({ maxAliasCount: 100 }), lineOf };
}

/** Reads and validates a `.yaml`, `.yml` or `.json` config file. An empty file means every default. */
export function loadPipelineConfig(path: string): PipelineConfig {
  const { input, lineOf } = readSourceFile(
    path,
    'config file',
    'Check the path given to --config, or start from a copy of examples/amigo-qa.yaml',
  );
  return parsePipelineConfig(input, path, dirname(resolve(path)), lineOf);
}

/** Reads and validates a `.yaml`, `.yml` or `.json` rules file. Throws a ConfigurationError. */
export function loadRules(path: string): RuleSet {
  const { input, lineOf } = readSourceFile(
    path,
    'rules file',
    'Check the path, or start from a copy of examples/rules.yaml',
  );
  return parseRules(input, path, lineOf);
}
