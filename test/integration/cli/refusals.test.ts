// What the command line refuses before anything starts: bad --archive targets (run, rules test,
// rules apply), an s3:// archive without an AWS region, dates that cannot list anything, a bad
// --workers, AMIGO_BASE_URL values that can never work, and report's --out, --since and --run. Each
// refusal names the flag or variable and the fix, prints each once, and leaves nothing behind. The
// real CLI runs as a child process.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../../support/closed-port.ts';
import { baseEnv, type CliResult, REPO, runCli } from './cli-process.ts';

let home: string;
let cwd: string;
let amigoEnv: Record<string, string>;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'cli-home-'));
  amigoEnv = {
    ...baseEnv(home),
    AMIGO_BASE_URL: `http://127.0.0.1:${await closedPort()}`,
    AMIGO_API_KEY: 'refusal-test-key-000000',
    AMIGO_API_KEY_ID: 'key-id',
    AMIGO_USER_ID: 'user',
    AMIGO_ORGANIZATION_ID: 'org',
  };
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

/** Runs the CLI in a fresh empty folder (kept in `cwd` for the checks that follow). */
async function cli(args: string[], env: Record<string, string> = amigoEnv): Promise<CliResult> {
  cwd = await mkdtemp(join(home, 'cwd-'));
  return runCli(args, { cwd, env });
}

function expectRefused(result: CliResult, ...patterns: RegExp[]): void {
  expect(result.killed, `the command hung; stderr so far: ${result.stderr}`).toBe(false);
  expect(result.code).toBe(1);
  for (const pattern of patterns) expect(result.stderr).toMatch(pattern);
}

const RULES = join(REPO, 'examples/rules.yaml');

describe('--archive targets that are refused before anything starts', () => {
  it('when run is given --archive "", then it is refused naming the flag and nothing is written in the current folder', async () => {
    const result = await cli(['run', '--archive', '']);

    expectRefused(
      result,
      /--archive: is empty, which would archive into the current folder/,
      /s3:\/\/my-bucket/,
    );
    expect(await readdir(cwd)).toEqual([]);
  });

  it('when run is given an https URL, then it is refused and no folder named "https:" appears', async () => {
    const result = await cli(['run', '--archive', 'https://example.com/x']);

    expectRefused(result, /--archive: "https:" locations are not supported/);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('when run is given a folder under /proc, then it is refused at once instead of spinning', async () => {
    const result = await cli(['run', '--archive', '/proc/amigo-qa-test/x']);

    expectRefused(result, /--archive: \/proc\/amigo-qa-test\/x cannot be created/, /not under \/proc/);
  });

  it('when rules test or rules apply is given a URL or an empty --archive, then each is refused naming the flag', async () => {
    expectRefused(
      await cli(['rules', 'test', RULES, '--archive', 'https://example.com/x']),
      /--archive: "https:" locations are not supported/,
    );
    expectRefused(
      await cli(['rules', 'apply', RULES, '--archive', '', '--since', '2026-01-01', '--dry-run']),
      /--archive: is empty/,
    );
    expectRefused(
      await cli(['rules', 'test', RULES, '--archive', join(home, 'no-such-archive')]),
      /no-such-archive does not exist/,
    );
  });

  it('when an s3:// archive is given and no AWS region is set, then it is refused naming AWS_REGION and the emulator variable', async () => {
    const result = await cli(['run', '--archive', 's3://qa-archive/amigo']);

    expectRefused(result, /AWS_REGION: is not set/, /export AWS_REGION=/, /AWS_ENDPOINT_URL_S3/);
    expect(result.stderr).not.toMatch(/UnknownError/);
  });
});

describe('run --report', () => {
  it('when run --report points inside the archive, then the run is refused naming --report before Amigo is called', async () => {
    const result = await cli(['run', '--archive', 'archive', '--report', 'archive/report']);

    expectRefused(
      result,
      /--report: .* is inside the archive/,
      /Give a folder outside the archive, like --report/,
    );
    expect(result.stderr).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });
});

describe('dates that can never list anything', () => {
  it('when run --since is in the future, then it is refused naming the flag', async () => {
    const nextYear = `${new Date().getUTCFullYear() + 1}-01-15`;

    const result = await cli(['run', '--archive', 'archive', '--since', nextYear]);

    expectRefused(result, new RegExp(`--since: "${nextYear}" is in the future`), /on or before today/);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('when rules apply --since is February 30th or in the future, then it is refused naming the flag', async () => {
    const archive = await mkdtemp(join(home, 'archive-'));

    expectRefused(
      await cli(['rules', 'apply', RULES, '--archive', archive, '--since', '2026-02-30', '--dry-run']),
      /--since: "2026-02-30" is not a calendar date/,
    );
    expectRefused(
      await cli([
        'rules',
        'apply',
        RULES,
        '--archive',
        archive,
        '--since',
        `${new Date().getUTCFullYear() + 1}-01-01`,
      ]),
      /--since: "\d{4}-01-01" is in the future/,
    );
  });
});

describe('report: refused before anything is read or written', () => {
  it('when --out is a folder with other files and no earlier report, then it is refused naming --out and nothing in it changes', async () => {
    const archive = await mkdtemp(join(home, 'archive-'));
    const out = await mkdtemp(join(home, 'documents-'));
    await mkdir(join(out, 'data'));
    await writeFile(join(out, 'data', 'thesis.tex'), 'years of work');

    const result = await cli(['report', '--archive', archive, '--out', out]);

    expectRefused(result, /--out: .* is not empty and holds no earlier report/, /Give a new or empty folder/);
    expect((await readdir(out, { recursive: true })).sort()).toEqual(['data', join('data', 'thesis.tex')]);
    expect(await readFile(join(out, 'data', 'thesis.tex'), 'utf8')).toBe('years of work');
  });

  it('when --out is a URL or inside the archive, then it is refused naming --out', async () => {
    const archive = await mkdtemp(join(home, 'archive-'));

    expectRefused(
      await cli(['report', '--archive', archive, '--out', 'https://reports.example.com/qa']),
      /--out: "https:\/\/reports\.example\.com\/qa" is not a folder/,
    );
    expectRefused(
      await cli(['report', '--archive', archive, '--out', join(archive, 'report')]),
      /--out: .* is inside the archive/,
    );
    expect(await readdir(archive)).toEqual([]);
  });

  it('when --since is not a day, --run is not a run id or names no run, or the archive is missing, then each is refused naming its flag', async () => {
    const archive = await mkdtemp(join(home, 'archive-'));
    const out = join(home, 'report-out');

    expectRefused(
      await cli(['report', '--archive', archive, '--out', out, '--since', 'last week']),
      /--since: "last week" is not a day/,
    );
    expectRefused(
      await cli(['report', '--archive', archive, '--out', out, '--since', '2026-02-30']),
      /--since: "2026-02-30" is not a calendar date/,
    );
    expectRefused(
      await cli(['report', '--archive', archive, '--out', out, '--run', '../../etc']),
      /--run: "\.\.\/\.\.\/etc" is not a run id/,
    );
    expectRefused(
      await cli(['report', '--archive', archive, '--out', out, '--run', 'no-such-run']),
      /--run: the archive .* has no run no-such-run/,
    );
    expectRefused(
      await cli(['report', '--archive', join(home, 'missing'), '--out', out]),
      /--archive: .* does not exist/,
    );
  });
});

describe('configuration errors are printed once, naming what to fix', () => {
  it('when --workers is -3, then the error says it must be at least 1, naming --workers, and the fix appears once', async () => {
    const result = await cli(['run', '--archive', 'archive', '--workers', '-3']);

    expectRefused(result, /--workers: must be at least 1, not -3/);
    expect(result.stderr.split('from 1 to 64')).toHaveLength(2);
    expect(result.stderr).not.toMatch(/hint:/);
  });

  it('when AMIGO_BASE_URL is not a URL, then the error names the variable', async () => {
    const result = await cli(['run', '--archive', 'archive'], { ...amigoEnv, AMIGO_BASE_URL: 'not-a-url' });

    expectRefused(result, /AMIGO_BASE_URL: is not a URL/);
  });

  it('when AMIGO_BASE_URL carries a password, then it is refused at once and the password is printed nowhere', async () => {
    const result = await cli(['run', '--archive', 'archive'], {
      ...amigoEnv,
      AMIGO_BASE_URL: 'https://ops:hunter2-secret@api.amigo.ai',
    });

    expectRefused(result, /AMIGO_BASE_URL: must not contain a user name or password/);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/hunter2|ops:/);
  });
});
