// The import boundaries of .dependency-cruiser.cjs hold for the whole tree, and each rule catches
// a violation planted in a scratch copy of the layout (so a rule that silently matches nothing fails).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ICruiseOptions, IViolation } from 'dependency-cruiser';
import { cruise } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const config = createRequire(import.meta.url)(join(repo, '.dependency-cruiser.cjs')) as {
  forbidden: Array<{ name: string }>;
  options: ICruiseOptions;
};
const TREE = ['shared', 'functions', 'infra', 'cli', 'local', 'sim', 'bench'];

async function violations(baseDir: string, roots: string[]): Promise<IViolation[]> {
  const { tsConfig: _ignored, ...options } = config.options;
  const result = await cruise(roots, {
    ...options,
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  } as ICruiseOptions);
  if (typeof result.output === 'string') throw new Error('expected a cruise result object');
  return result.output.summary.violations;
}

/** One planted violation per rule: the files to write (repo-relative) and the file that offends. */
const plants: Record<string, Record<string, string>> = {
  'sim-independent': {
    'sim/planted.ts':
      "import { AmigoClient } from '../shared/amigo/client.ts';\nexport const x = AmigoClient;\n",
    'shared/amigo/client.ts': 'export class AmigoClient {}\n',
  },
  'shared-inward': {
    'shared/planted.ts': "import { main } from '../cli/main.ts';\nexport const x = main;\n",
    'cli/main.ts': 'export function main() {}\n',
  },
  'stages-pure': {
    'shared/stages/planted.ts':
      "import { S3Client } from '@aws-sdk/client-s3';\nexport const x = S3Client;\n",
  },
  'stages-through-ports': {
    'shared/stages/planted.ts': "import { logger } from '../observability.ts';\nexport const x = logger;\n",
    'shared/observability.ts': 'export const logger = {};\n',
  },
  'ports-abstract': {
    'shared/ports/planted.ts':
      "import type { AmigoClient } from '../amigo/client.ts';\nexport type X = AmigoClient;\n",
    'shared/amigo/client.ts': 'export class AmigoClient {}\n',
  },
  'report-through-port': {
    'shared/report/planted.ts':
      "import { FsArchiveStore } from '../adapters/fs-archive-store.ts';\nexport const x = FsArchiveStore;\n",
    'shared/adapters/fs-archive-store.ts': 'export class FsArchiveStore {}\n',
  },
  'infra-contract-only': {
    'infra/planted.ts':
      "import { budget } from '../shared/adapters/dynamodb-rate-budget.ts';\nexport const x = budget;\n",
    'shared/adapters/dynamodb-rate-budget.ts': 'export const budget = 1;\n',
  },
  'no-circular': {
    'shared/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'shared/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
  },
};

const scratch = mkdtempSync(join(tmpdir(), 'amigo-qa-boundaries-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function plant(rule: string): string {
  const dir = join(scratch, rule);
  for (const [path, text] of Object.entries(plants[rule] ?? {})) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

describe('import boundaries', () => {
  it('when the whole tree is checked, then no boundary is crossed', async () => {
    const found = await violations(repo, TREE);

    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  });

  it('when a rule is added, then it has a planted violation here', () => {
    expect(Object.keys(plants).sort()).toEqual(config.forbidden.map((r) => r.name).sort());
  });

  it.each(Object.keys(plants))('when a file breaks %s, then the check names that rule', async (rule) => {
    const dir = plant(rule);
    const roots = [...new Set(Object.keys(plants[rule] ?? {}).map((path) => path.split('/')[0] as string))];

    const found = await violations(dir, roots);

    expect(found.map((v) => v.rule.name)).toContain(rule);
  });
});
