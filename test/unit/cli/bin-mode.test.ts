// `npm ci` makes the package's bin executable; the committed mode must already be executable, or
// every fresh install shows cli/main.ts as modified.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);

describe('the amigo-qa bin', () => {
  it('when git records cli/main.ts, then its mode is executable (100755) and it starts with a node shebang', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin['amigo-qa']).toBe('cli/main.ts');

    const staged = execFileSync('git', ['ls-files', '--stage', '--', 'cli/main.ts'], {
      cwd: root,
      encoding: 'utf8',
    });

    expect(staged.split(' ')[0]).toBe('100755');
    expect(readFileSync(new URL('cli/main.ts', root), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
