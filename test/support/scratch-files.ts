// Files written for one test file (configs, rules) in a folder of their own, removed after its tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export interface ScratchFiles {
  readonly dir: string;
  /** Writes `text` to `name` in the folder and returns its path. */
  file(name: string, text: string): string;
}

/** A fresh folder named `amigo-qa-<label>-…`; call it at the top level of a test file. */
export function scratchFiles(label: string): ScratchFiles {
  const dir = mkdtempSync(join(tmpdir(), `amigo-qa-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    file: (name, text) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}
