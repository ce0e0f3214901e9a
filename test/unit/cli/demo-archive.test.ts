// The demo's archive folder decisions, on real folders: what is kept, emptied, adopted or refused.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_MARKER, prepareDemoArchive } from '../../../cli/demo-archive.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'demo-archive-'));
  dirs.push(dir);
  return dir;
}

const identity = { seed: 7, conversations: 40, recordingMib: 64 };
const first = Date.parse('2026-11-20T08:00:00Z');
const later = Date.parse('2026-12-01T10:00:00Z');

async function refusal(act: () => Promise<unknown>): Promise<ConfigurationError> {
  const error = await act().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}

describe('prepareDemoArchive', () => {
  it('when the folder does not exist, then it is created with the marker holding the organisation and its start', async () => {
    const path = join(await tempDir(), 'nested', 'demo-archive');

    const prepared = await prepareDemoArchive(path, identity, { now: first });

    expect(prepared).toEqual({ simulatorStart: first, state: 'new' });
    expect(await readdir(path)).toEqual([DEMO_MARKER]);
    expect(JSON.parse(await readFile(join(path, DEMO_MARKER), 'utf8'))).toEqual({
      createdBy: 'amigo-qa demo',
      ...identity,
      simulatorStart: '2026-11-20T08:00:00.000Z',
    });
  });

  it('when the demo made the folder for the same organisation, then it is kept and the first start is reused', async () => {
    const path = await tempDir();
    await prepareDemoArchive(path, identity, { now: first });
    await writeFile(join(path, 'archived.json'), '{}');

    const prepared = await prepareDemoArchive(path, identity, { now: later });

    expect(prepared).toEqual({ simulatorStart: first, state: 'kept' });
    expect((await readdir(path)).sort()).toEqual([DEMO_MARKER, 'archived.json']);
  });

  it.each([
    [{ fresh: true }, identity, '--fresh'],
    [{}, { ...identity, seed: 8 }, 'it holds --seed 7 --conversations 40 --recording-mib 64'],
  ])(
    'when the demo made the folder and %o / another organisation is asked for, then it is emptied and started again',
    async (flags, wanted, reason) => {
      const path = await tempDir();
      await prepareDemoArchive(path, identity, { now: first });
      await writeFile(join(path, 'archived.json'), '{}');

      const prepared = await prepareDemoArchive(path, wanted, { ...flags, now: later });

      expect(prepared.state).toBe('emptied');
      expect(prepared.simulatorStart).toBe(later);
      expect(prepared.reason).toContain(reason);
      expect(await readdir(path)).toEqual([DEMO_MARKER]);
    },
  );

  it('when a non-empty folder has no marker, then it is refused, even with --fresh, and left as it was', async () => {
    const path = await tempDir();
    await writeFile(join(path, 'notes.txt'), 'mine');
    await mkdir(join(path, '.ssh'));

    const error = await refusal(() => prepareDemoArchive(path, identity, { fresh: true, now: later }));

    expect(error.field).toBe('--archive');
    expect(error.message).toMatch(/is not empty and was not made by amigo-qa demo/);
    expect(error.hint).toMatch(/Give a new or empty folder/);
    expect((await readdir(path)).sort()).toEqual(['.ssh', 'notes.txt']);
  });

  it('when --archive names a file, then it is refused and the file is kept', async () => {
    const path = join(await tempDir(), 'file');
    await writeFile(path, 'data');

    const error = await refusal(() => prepareDemoArchive(path, identity, { fresh: true }));

    expect(error.message).toMatch(/is a file, not a folder/);
    expect(await readFile(path, 'utf8')).toBe('data');
  });
});
