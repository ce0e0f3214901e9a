// The demo (npm start) leaves the tables beside its archive: its end-of-run step writes the run's
// parts and prints one line with their rows, which DuckDB then reads from the folder. A rerun, which
// archives nothing, writes no part and leaves the first run's parts as they were.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../../cli/commands/demo.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { duckdbSetupSql } from '../../../shared/tables/duckdb.ts';
import { REPO } from '../cli/cli-process.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function demo(archive: string): Promise<{ complete: boolean; out: string[] }> {
  const out: string[] = [];
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const complete = await runDemo(
    {
      seed: 7,
      conversations: 8,
      archive,
      rateScale: 600,
      recordingMib: 1,
      rules: join(REPO, 'examples/rules.yaml'),
      report: `${archive}.report`,
    },
    (line) => out.push(line),
    quiet,
  );
  return { complete, out };
}

/** Every part under tables/ with the sha256 of its bytes. */
async function parts(archive: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of new FsArchiveStore(archive).list('tables/'))
    out.set(
      o.key,
      createHash('sha256')
        .update(await readFile(join(archive, ...o.key.split('/'))))
        .digest('hex'),
    );
  return out;
}

describe('the demo and its tables', () => {
  it('when the demo runs, then it prints the rows of its tables and DuckDB reads as many conversations as it archived; a rerun keeps them', async () => {
    const home = await mkdtemp(join(tmpdir(), 'demo-tables-'));
    dirs.push(home);
    const archive = join(home, 'archive');
    dirs.push(`${archive}.report`);

    const first = await demo(archive);
    const written = await parts(archive);
    const second = await demo(archive);

    expect(first.complete).toBe(true);
    const archived = Number(/^ {2}archived +(\d+)/m.exec(first.out.join('\n'))?.[1]);
    const line = first.out.find((l) => l.startsWith('  tables '));
    expect(line).toMatch(
      new RegExp(`^ {2}tables +\\d+ parts \\(rows: conversations ${archived}, messages \\d+,`),
    );
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    for (const sql of duckdbSetupSql((t) =>
      [...written.keys()]
        .filter((k) => k.startsWith(`tables/${t.name}/`))
        .map((k) => join(archive, ...k.split('/'))),
    ))
      await con.run(sql);
    const counted = (await con.runAndReadAll('SELECT count(*) AS n FROM conversations')).getRowObjectsJson();
    expect(Number(counted[0]?.n)).toBe(archived);
    con.closeSync();
    expect(second.complete).toBe(true);
    expect(second.out.find((l) => l.startsWith('  tables '))).toMatch(/^ {2}tables +0 parts/);
    expect(await parts(archive)).toEqual(written);
  });
});
