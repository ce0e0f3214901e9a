import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exportLines } from '../../../cli/commands/simulate.ts';
import { shellWord } from '../../../cli/shell-word.ts';

describe('the lines simulate prints', () => {
  it('when they are run by a POSIX shell, then the variables reach the programs it starts', () => {
    const lines = exportLines({
      AMIGO_BASE_URL: 'http://127.0.0.1:4010',
      AMIGO_API_KEY: "it's a $key with spaces",
      AMIGO_USER_ID: 'sim-user',
    });

    const seen = execFileSync('sh', ['-c', `${lines.join('\n')}\nenv`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });

    expect(lines.every((l) => l.startsWith('export AMIGO_'))).toBe(true);
    expect(seen).toContain('AMIGO_BASE_URL=http://127.0.0.1:4010\n');
    expect(seen).toContain("AMIGO_API_KEY=it's a $key with spaces\n");
    expect(seen).toContain('AMIGO_USER_ID=sim-user\n');
  });

  it('when a value is plain, then it is printed bare', () => {
    expect(shellWord('sim-key-secret-000000')).toBe('sim-key-secret-000000');
    expect(shellWord('a b')).toBe("'a b'");
  });
});
