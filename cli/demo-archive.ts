// The demo's archive folder. The demo only ever deletes a folder it created and marked as its own
// (a marker file written when it creates the folder); a non-empty folder without the marker is
// refused, whatever --archive says. Between runs the archive is kept: a rerun (`npm start` again)
// sees the same simulated organisation, so what was archived shows as already archived.
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ConfigurationError } from '../shared/errors.ts';
import { ensureWritableFolder } from './archive-target.ts';
import { shellWord } from './shell-word.ts';

/** The marker file. `.~` names are internal to the archive store: never listed, never archive keys. */
export const DEMO_MARKER = '.~amigo-qa-demo.json';

/** What decides the simulated organisation's data: a rerun must see the same. */
export interface DemoIdentity {
  readonly seed: number;
  readonly conversations: number;
  readonly recordingMib: number;
}

// Not an archive document (`.~` names are the store's own, never archive keys): the demo's alone.
const MarkerSchema = z.looseObject({
  createdBy: z.literal('amigo-qa demo'),
  seed: z.number(),
  conversations: z.number(),
  recordingMib: z.number(),
  /** The simulator's start on the first run (ISO): every generated timestamp is relative to it. */
  simulatorStart: z.string().refine((s) => Number.isFinite(Date.parse(s))),
});
type Marker = z.infer<typeof MarkerSchema>;

export interface DemoArchive {
  /** Epoch ms the simulator's data is anchored at (the first run's start). */
  readonly simulatorStart: number;
  /** `new`: created now; `kept`: a rerun; `emptied`: the demo's own folder, started over. */
  readonly state: 'new' | 'kept' | 'emptied';
  /** Why it was emptied. */
  readonly reason?: string;
}

function sameIdentity(a: DemoIdentity, b: DemoIdentity): boolean {
  return a.seed === b.seed && a.conversations === b.conversations && a.recordingMib === b.recordingMib;
}

async function readMarker(path: string): Promise<Marker | 'unreadable' | undefined> {
  let text: string;
  try {
    text = await readFile(join(path, DEMO_MARKER), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = MarkerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

async function start(path: string, identity: DemoIdentity, now: number): Promise<number> {
  await ensureWritableFolder(path);
  const marker: Marker = {
    createdBy: 'amigo-qa demo',
    ...identity,
    simulatorStart: new Date(now).toISOString(),
  };
  await writeFile(join(path, DEMO_MARKER), `${JSON.stringify(marker, null, 2)}\n`, { flag: 'wx' });
  return now;
}

/**
 * Makes `path` ready for a demo run: creates and marks it when new or empty, keeps it for a rerun
 * of the same organisation, empties it only when it carries the marker (with `fresh`, or when the
 * seed, size or recording differ), and refuses anything else.
 */
export async function prepareDemoArchive(
  path: string,
  identity: DemoIdentity,
  options: { fresh?: boolean; now?: number } = {},
): Promise<DemoArchive> {
  const now = options.now ?? Date.now();
  let entries: string[] | undefined;
  try {
    const info = await stat(path);
    if (!info.isDirectory()) {
      throw new ConfigurationError(
        '--archive',
        `${path} is a file, not a folder`,
        'Give a new or empty folder',
      );
    }
    entries = await readdir(path);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  if (entries === undefined || entries.length === 0) {
    return { simulatorStart: await start(path, identity, now), state: 'new' };
  }
  const marker = await readMarker(path);
  if (marker === undefined) {
    throw new ConfigurationError(
      '--archive',
      `${path} is not empty and was not made by amigo-qa demo (it has no ${DEMO_MARKER}), so the demo will neither write into it nor empty it`,
      `Give a new or empty folder with --archive; if an earlier version of amigo-qa demo made this one, delete it yourself (rm -r ${shellWord(path)}) and run the demo again`,
    );
  }
  let reason: string | undefined;
  if (options.fresh) reason = '--fresh';
  else if (marker === 'unreadable') reason = `its ${DEMO_MARKER} could not be read`;
  else if (!sameIdentity(marker, identity)) {
    reason = `it holds --seed ${marker.seed} --conversations ${marker.conversations} --recording-mib ${marker.recordingMib}, not this run's organisation`;
  }
  if (reason === undefined && marker !== 'unreadable') {
    await ensureWritableFolder(path);
    return { simulatorStart: Date.parse(marker.simulatorStart), state: 'kept' };
  }
  // The marker is there: the folder and everything in it is the demo's own.
  await rm(path, { recursive: true, force: true });
  return {
    simulatorStart: await start(path, identity, now),
    state: 'emptied',
    ...(reason ? { reason } : {}),
  };
}
