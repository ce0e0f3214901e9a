import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tablesRebuildCommand, writeTablesAfterRun } from '../../../cli/commands/tables.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const folders: string[] = [];
afterEach(async () => {
  for (const f of folders.splice(0)) await rm(f, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'tables-cli-'));
  folders.push(path);
  return path;
}

describe('tables rebuild flags', () => {
  it('when --since is not a day, then the command is refused naming --since', async () => {
    const archive = await folder();

    const run = tablesRebuildCommand({ archive, since: 'last week' }, () => undefined);

    await expect(run).rejects.toThrow(ConfigurationError);
    await expect(run).rejects.toThrow(/--since/);
  });

  it('when --org is not an id, then the command is refused naming --org', async () => {
    const archive = await folder();

    await expect(tablesRebuildCommand({ archive, org: '../etc' }, () => undefined)).rejects.toThrow(/--org/);
  });

  it('when the archive folder does not exist, then the command is refused naming --archive', async () => {
    const archive = join(await folder(), 'missing');

    await expect(tablesRebuildCommand({ archive }, () => undefined)).rejects.toThrow(
      /--archive.*does not exist/,
    );
  });

  it('when the archive is empty, then the rebuild writes no part and says so', async () => {
    const archive = await folder();
    const lines: string[] = [];

    const code = await tablesRebuildCommand({ archive, since: '2026-11-01' }, (l) => lines.push(l));

    expect(code).toBe(0);
    expect(lines[0]).toMatch(
      /^Tables rebuilt from .*: 0 parts \(rows: conversations 0, messages 0, interactions 0, tags 0, stalls 0\)/,
    );
  });
});

describe('the end-of-run step', () => {
  it("when a run's outcome record cannot be read, then the step prints the failure and how to rebuild, and returns false", async () => {
    const archive = await folder();
    const store = new FsArchiveStore(archive);
    await store.put('runs/r1/archive/c1.json', 'not json');
    const lines: string[] = [];

    const ok = await writeTablesAfterRun(store, { organizationId: 'acme', runId: 'r1' }, (l) =>
      lines.push(l),
    );

    expect(ok).toBe(false);
    expect(lines[0]).toMatch(/TABLES FAILED .*runs\/r1\/archive\/c1\.json.*is not JSON/);
    expect(lines[1]).toContain(`npm run cli -- tables rebuild --archive ${archive}`);
  });
});
