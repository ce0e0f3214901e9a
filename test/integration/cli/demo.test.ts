// `amigo-qa demo` (npm start) and its archive folder: it never deletes a folder it did not create
// and mark, and running it again is a real rerun (the archive is kept; what is archived is skipped).
// A small organisation on a fast clock; the same code as `npm start`.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type DemoOptions, runDemo } from '../../../cli/commands/demo.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import { REPO } from './cli-process.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'demo-'));
  dirs.push(dir);
  return dir;
}

function options(archive: string, changes: Partial<DemoOptions> = {}): DemoOptions {
  dirs.push(`${archive}.report`);
  return {
    seed: 7,
    conversations: 6,
    archive,
    rateScale: 600,
    recordingMib: 1,
    rules: join(REPO, 'examples/rules.yaml'),
    report: `${archive}.report`,
    ...changes,
  };
}

interface DemoRun {
  readonly complete: boolean;
  readonly out: string[];
  readonly archived: number;
  readonly alreadyArchived: number;
}

/** Every manifest.json under the archive, by path, with its content. */
async function manifestsIn(archive: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(archive, { recursive: true })) {
    if (entry.endsWith('manifest.json')) found.set(entry, await readFile(join(archive, entry), 'utf8'));
  }
  return found;
}

async function demo(opts: DemoOptions): Promise<DemoRun> {
  const out: string[] = [];
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const complete = await runDemo(opts, (line) => out.push(line), quiet);
  const text = out.join('\n');
  return {
    complete,
    out,
    archived: Number(/^ {2}archived +(\d+)/m.exec(text)?.[1]),
    alreadyArchived: Number(/^ {2}skipped +(\d+) already archived/m.exec(text)?.[1]),
  };
}

describe('the demo archive folder', () => {
  it('when --archive is a non-empty folder the demo did not make (a home folder), then it is refused and nothing in it is touched', async () => {
    const home = await tempDir();
    await writeFile(join(home, 'thesis.tex'), 'years of work');
    await mkdir(join(home, 'photos'));

    const error = await demo(options(home)).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).field).toBe('--archive');
    expect((error as Error).message).toMatch(/is not empty and was not made by amigo-qa demo/);
    expect((await readdir(home)).sort()).toEqual(['photos', 'thesis.tex']);
    expect(await readFile(join(home, 'thesis.tex'), 'utf8')).toBe('years of work');
  });

  it('when the demo runs twice into its folder, then the second run is a rerun: nothing is archived again and the first archive stays', async () => {
    const archive = join(await tempDir(), 'demo-archive');

    const first = await demo(options(archive));
    const manifests = await manifestsIn(archive);
    const second = await demo(options(archive));

    expect(first.complete).toBe(true);
    expect(first.archived).toBeGreaterThan(0);
    expect(second.complete).toBe(true);
    expect(second.archived).toBe(0);
    expect(second.alreadyArchived).toBeGreaterThan(0);
    expect(await manifestsIn(archive)).toEqual(manifests);
    expect(first.out).toContain(`Archive: ${archive} (new)`);
    expect(second.out.join('\n')).toMatch(/a rerun, so what is archived is skipped/);
    // Both runs end with the QA report of the whole archive; the second replaces the first's.
    const opened = second.out.find((line) => line.includes('Open it'));
    expect(opened).toContain(pathToFileURL(join(`${archive}.report`, 'index.html')).href);
    expect(second.out.join('\n')).toMatch(new RegExp(`Report: ${first.archived} conversations`));
    expect(await readFile(join(`${archive}.report`, 'data', 'index.js'), 'utf8')).toContain(
      'amigo-qa/report-index',
    );
  });
});
