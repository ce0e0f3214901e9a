// Crash trials: the archive worker is killed (SIGKILL) at random points; afterwards every conversation
// is archived exactly once and no manifest points at a missing or different file.
//
//   npm run bench:crash [-- --trials 50 --seed 1 --trial i --double-kill 0.3]
//   (or: npm exec -- node bench/crash/crash-trials.ts --trials 50)
//
// One simulator runs in this process (fixed data seed, rate limits off, two recordings of 4 MiB so
// kills land mid-stream). Uncrashed children first archive everything (one warm-up, then the median
// of three) to measure how long the archive work takes. Then each trial, in a fresh temp folder: a
// child (bench/crash/worker-child.ts) is started and SIGKILLed at a time drawn uniformly from that
// duration, counted from the child's `ready` line so the kill lands in the archive work, not in
// Node's start-up; with probability --double-kill a second child is killed too (drawn within the
// work the first left); then a last child runs to completion. The folder is inspected after every
// kill (any folder with a manifest must already be whole) and at the end (README.md lists the
// checks). Kill times come from a PRNG seeded with (--seed, trial): `--seed S --trial i` replays the
// draws of one trial (where they land still depends on timing). Exit code 1 when any trial fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { type Manifest, ManifestSchema } from '../../shared/archive-format/documents.ts';
import { conversationPrefix, FILES } from '../../shared/archive-format/keys.ts';
import { parseDocument } from '../../shared/archive-format/read-document.ts';
import { RESERVED_SEGMENT_PREFIX } from '../../shared/ports/archive-keys.ts';
import { type ConversationInstance, type RunningSimulator, startSimulator } from '../../sim/index.ts';
import { createRng } from '../../sim/prng.ts';
import { simulatorAmigoEnv } from '../../test/support/sim-credentials.ts';

const CHILD = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const BASELINE_RUNS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export interface CrashTrialOptions {
  /** Number of trials. @default 50 */
  readonly trials?: number;
  /** Seed of the kill-time PRNG. @default 1 */
  readonly seed?: number;
  /** Run only this trial (0-based) with the draws it has under `seed`. */
  readonly onlyTrial?: number;
  /** Probability that a second child is killed too before the last one runs. @default 0.3 */
  readonly doubleKillRate?: number;
  /** Data seed of the simulator. @default 11 (6 finished conversations, 3 with voice, ~13 MB of audio) */
  readonly simSeed?: number;
  /** Progress and table lines; silent when omitted. */
  readonly log?: (line: string) => void;
  /** Keep the archive folder of a failed trial (its path is in the result). @default true */
  readonly keepFailed?: boolean;
}

export interface KillRecord {
  /** Kill delay drawn, ms after the child's `ready` line. */
  readonly drawnMs: number;
  /** What the child had reported when it was killed: `3/6 audio 4/9`, `2/6 manifest.json`, … */
  readonly phase: string;
  /** The child had finished everything before the kill landed (nothing was killed). */
  readonly completedFirst: boolean;
  /** Conversations the child reported done before the kill. */
  readonly done: number;
  /** Folders with a manifest right after the kill (each checked whole). */
  readonly committed: number;
  /** Lock files right after the kill, and how many of them are empty (no owner recorded). */
  readonly lockFiles: number;
  readonly emptyLockFiles: number;
  readonly problems: readonly string[];
}

export interface TrialResult {
  readonly trial: number;
  readonly kills: readonly KillRecord[];
  readonly finalMs: number;
  /** What the last child reported: archived / already-archived counts. */
  readonly finalStatuses: Readonly<Record<string, number>>;
  /** `.~tmp.*` files left in the folder (never referenced by a manifest). */
  readonly tempFiles: number;
  /** Of those, temp files that are a second link to a committed file (killed between link and unlink). */
  readonly tempLinkedToObject: number;
  /** `.~lock.*` files left, and of those without an owner (0 bytes). */
  readonly lockFiles: number;
  readonly emptyLockFiles: number;
  readonly problems: readonly string[];
  readonly ok: boolean;
  /** The archive folder, kept when the trial failed. */
  readonly keptAt?: string;
}

export interface CrashReport {
  readonly trials: number;
  readonly passed: number;
  readonly failed: number;
  readonly seed: number;
  readonly simSeed: number;
  readonly conversations: number;
  readonly voiceConversations: number;
  readonly recordings: number;
  readonly audioBytes: number;
  /** Uncrashed child: spawn to exit, and `ready` to exit (the kill-time range). */
  readonly baseline: { readonly totalMs: number; readonly workMs: number };
  readonly kills: number;
  readonly killsCompletedFirst: number;
  readonly elapsedMs: number;
  readonly results: readonly TrialResult[];
}

interface Truth {
  readonly conversation: ConversationInstance;
  readonly index: number;
  readonly prefix: string;
  readonly messageIds: readonly string[];
  readonly agentInteractions: readonly string[];
  /** Voice message id -> sha256 of its recording. */
  readonly audio: ReadonlyMap<string, { bytes: number; sha256: string }>;
}

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lines: readonly string[];
  readonly stderr: string;
  readonly readyAtMs: number | undefined;
  readonly exitAtMs: number;
  readonly killed: boolean;
}

export async function runCrashTrials(options: CrashTrialOptions = {}): Promise<CrashReport> {
  const trials = options.trials ?? 50;
  const seed = options.seed ?? 1;
  const simSeed = options.simSeed ?? 11;
  const doubleKillRate = options.doubleKillRate ?? 0.3;
  const log = options.log ?? (() => undefined);
  const started = performance.now();

  const sim = await startSimulator({
    seed: simSeed,
    conversations: 12,
    longConversations: 0,
    now: '2026-06-01T00:00:00Z',
    rateLimits: { enabled: false },
    audio: { largeRecordings: 2, largeRecordingBytes: 4 * 1024 * 1024 },
    validateResponses: false,
  });
  const work = await mkdtemp(join(tmpdir(), 'amigo-qa-crash-'));
  try {
    const truth = await groundTruth(sim);
    const ids = [...truth.keys()];
    const recordings = [...truth.values()].reduce((n, t) => n + t.audio.size, 0);
    const audioBytes = [...truth.values()].reduce(
      (n, t) => n + [...t.audio.values()].reduce((m, a) => m + a.bytes, 0),
      0,
    );
    const env = { ...process.env, ...simulatorAmigoEnv(sim) };
    log(
      `crash trials: ${ids.length} conversations (${[...truth.values()].filter((t) => t.audio.size > 0).length} with voice, ` +
        `${recordings} recordings, ${(audioBytes / 1048576).toFixed(1)} MiB), kill seed ${seed}, node ${process.version}`,
    );

    // Baseline: uncrashed runs, each checked like a trial's end state; the median sets the kill range.
    // The first run of a fresh process tree is slower (cold caches): one warm-up run is not counted.
    const runs: Array<{ totalMs: number; workMs: number }> = [];
    for (let i = -1; i < BASELINE_RUNS; i++) {
      const baseRoot = join(work, `baseline-${i}`);
      const base = await runChild(baseRoot, ids, env, undefined);
      const baseProblems = childProblems(base, 'baseline child');
      baseProblems.push(...(await inspect(baseRoot, truth, sim.organizationId, true)).problems);
      if (baseProblems.length > 0) {
        throw new Error(`An uncrashed baseline run is already wrong:\n  ${baseProblems.join('\n  ')}`);
      }
      if (i >= 0) runs.push({ totalMs: base.exitAtMs, workMs: base.exitAtMs - (base.readyAtMs ?? 0) });
      await rm(baseRoot, { recursive: true, force: true });
    }
    const baseline = {
      totalMs: Math.round(median(runs.map((r) => r.totalMs))),
      workMs: Math.round(median(runs.map((r) => r.workMs))),
    };
    log(
      `baseline (uncrashed, median of ${BASELINE_RUNS} after a warm-up): ${baseline.totalMs} ms from spawn, ` +
        `${baseline.workMs} ms of archive work after "ready" (kill times are drawn in [0, ${baseline.workMs}) ms)`,
    );
    log('');
    log(row(['trial', 'kill 1 (ms: phase)', 'kill 2 (ms: phase)', 'last ms', 'temp', 'locks', 'result']));

    const results: TrialResult[] = [];
    const indices =
      options.onlyTrial === undefined ? Array.from({ length: trials }, (_, i) => i) : [options.onlyTrial];
    for (const trial of indices) {
      const result = await runTrial(trial, {
        seed,
        doubleKillRate,
        workMs: baseline.workMs,
        root: join(work, `trial-${trial}`),
        ids,
        truth,
        env,
        organizationId: sim.organizationId,
        keepFailed: options.keepFailed ?? true,
      });
      results.push(result);
      log(
        row([
          String(trial),
          killCell(result.kills[0]),
          killCell(result.kills[1]),
          String(result.finalMs),
          String(result.tempFiles),
          lockCell(result.lockFiles, result.emptyLockFiles),
          result.ok ? 'ok' : `FAIL: ${result.problems[0]}`,
        ]),
      );
      for (const problem of result.problems.slice(1)) log(`      ${problem}`);
      if (result.keptAt) log(`      archive kept at ${result.keptAt}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    const kills = results.flatMap((r) => r.kills);
    const report: CrashReport = {
      trials: results.length,
      passed: results.length - failed,
      failed,
      seed,
      simSeed,
      conversations: ids.length,
      voiceConversations: [...truth.values()].filter((t) => t.audio.size > 0).length,
      recordings,
      audioBytes,
      baseline,
      kills: kills.length,
      killsCompletedFirst: kills.filter((k) => k.completedFirst).length,
      elapsedMs: Math.round(performance.now() - started),
      results,
    };
    log('');
    const sum = (f: (r: TrialResult) => number) => results.reduce((n, r) => n + f(r), 0);
    log(
      `${report.kills} kills (${report.killsCompletedFirst} landed after the child had finished); left at the end: ` +
        `${sum((r) => r.tempFiles)} temp files (${sum((r) => r.tempLinkedToObject)} a second link of an object), ` +
        `${sum((r) => r.lockFiles)} lock files (${sum((r) => r.emptyLockFiles)} empty); ` +
        `${(report.elapsedMs / 1000).toFixed(1)} s`,
    );
    const emptyLockKills = kills.filter((k) => k.emptyLockFiles > 0).length;
    if (emptyLockKills > 0) {
      log(
        `${emptyLockKills} kills left an empty lock file (killed between creating a lock and writing its owner): ` +
          'the store cannot tell its owner is dead and waits staleLockMs before breaking it',
      );
    }
    log(`crash trials: ${report.passed} passed, ${report.failed} failed`);
    return report;
  } finally {
    await sim.stop();
    await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

// ---- one trial ------------------------------------------------------------------------------------

interface TrialContext {
  readonly seed: number;
  readonly doubleKillRate: number;
  readonly workMs: number;
  readonly root: string;
  readonly ids: readonly string[];
  readonly truth: ReadonlyMap<string, Truth>;
  readonly env: NodeJS.ProcessEnv;
  readonly organizationId: string;
  readonly keepFailed: boolean;
}

async function runTrial(trial: number, ctx: TrialContext): Promise<TrialResult> {
  const rng = createRng(ctx.seed, 'crash-trial', trial);
  const first = rng.float(0, ctx.workMs);
  const killDelays = [first];
  // A second child only has what the first left: draw within the work that remains (at least 10%).
  if (rng.chance(ctx.doubleKillRate))
    killDelays.push(rng.float(0, Math.max(ctx.workMs - first, ctx.workMs / 10)));
  const problems: string[] = [];
  const kills: KillRecord[] = [];
  await mkdir(ctx.root, { recursive: true });

  for (const [k, delay] of killDelays.entries()) {
    const run = await runChild(ctx.root, ctx.ids, ctx.env, delay);
    const label = `kill ${k + 1}`;
    if (!run.killed) problems.push(...childProblems(run, `${label}: child finished early and`));
    if (run.readyAtMs === undefined)
      problems.push(`${label}: the child never got ready (${tail(run.stderr)})`);
    const state = await inspect(ctx.root, ctx.truth, ctx.organizationId, false);
    const here = state.problems.map((p) => `after ${label}: ${p}`);
    problems.push(...here);
    kills.push({
      drawnMs: Math.round(delay),
      phase: phaseOf(run.lines, ctx.truth),
      completedFirst: !run.killed,
      done: run.lines.filter((l) => l.startsWith('done ')).length,
      committed: state.committed,
      lockFiles: state.lockFiles,
      emptyLockFiles: state.emptyLockFiles,
      problems: here,
    });
  }

  const final = await runChild(ctx.root, ctx.ids, ctx.env, undefined);
  problems.push(...childProblems(final, 'last child'));
  const end = await inspect(ctx.root, ctx.truth, ctx.organizationId, true);
  problems.push(...end.problems.map((p) => `at the end: ${p}`));
  const finalStatuses: Record<string, number> = {};
  for (const line of final.lines) {
    const [word, , status] = line.split(' ');
    if (word === 'done' && status) finalStatuses[status] = (finalStatuses[status] ?? 0) + 1;
  }
  const ok = problems.length === 0;
  if (ok || !ctx.keepFailed) await rm(ctx.root, { recursive: true, force: true, maxRetries: 3 });
  const keptAt = ok || !ctx.keepFailed ? undefined : await keep(ctx.root, trial);
  return {
    trial,
    kills,
    finalMs: Math.round(final.exitAtMs),
    finalStatuses,
    tempFiles: end.tempFiles,
    tempLinkedToObject: end.tempLinked,
    lockFiles: end.lockFiles,
    emptyLockFiles: end.emptyLockFiles,
    problems,
    ok,
    ...(keptAt ? { keptAt } : {}),
  };
}

/** Moves a failed trial's folder out of the work folder (which is removed) for inspection. */
async function keep(root: string, trial: number): Promise<string> {
  const target = join(await mkdtemp(join(tmpdir(), `amigo-qa-crash-failed-${trial}-`)), 'archive');
  await rename(root, target);
  return target;
}

function childProblems(run: ChildRun, who: string): string[] {
  if (run.code === 0 && run.lines.some((l) => l.startsWith('finished '))) return [];
  return [`${who} exited with ${run.signal ?? `code ${run.code}`}: ${tail(run.stderr)}`];
}

/** The error line of a child's stderr (`RetryableError: Timed out …`), else its last lines. */
function tail(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  const error = lines.find((l) => /^\w*Error\b/.test(l));
  return (error ?? lines.slice(-3).join(' | ')).slice(0, 400) || '(no stderr)';
}

/**
 * Starts the worker child; SIGKILLs it `killAfterMs` after its `ready` line (never, when undefined).
 * Resolves once it has exited and its output is drained. Times are ms since spawn.
 */
function runChild(
  root: string,
  ids: readonly string[],
  env: NodeJS.ProcessEnv,
  killAfterMs: number | undefined,
): Promise<ChildRun> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [CHILD, '--root', root, '--ids', ids.join(',')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  let readyAtMs: number | undefined;
  let killed = false;
  let timer: NodeJS.Timeout | undefined;
  // A child that hangs is a finding too: kill it after a generous bound.
  const watchdog = setTimeout(() => child.kill('SIGKILL'), 120_000);
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (line === 'ready' && readyAtMs === undefined) {
        readyAtMs = performance.now() - t0;
        if (killAfterMs !== undefined) {
          timer = setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) {
              killed = child.kill('SIGKILL');
            }
          }, killAfterMs);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (partial) lines.push(partial);
      resolve({ code, signal, lines, stderr, readyAtMs, exitAtMs: performance.now() - t0, killed });
    });
  });
}

/** The furthest point the child reported: `<k>/<n> <what>`. */
function phaseOf(lines: readonly string[], truth: ReadonlyMap<string, Truth>): string {
  let phase = 'start-up';
  let audioWrites = 0;
  for (const line of lines) {
    const [word, id = '', rest = ''] = line.split(' ');
    const t = truth.get(id);
    const where = t ? `${t.index + 1}/${truth.size}` : '';
    if (word === 'ready') phase = 'ready';
    else if (word === 'begin') {
      phase = `${where} fetch`;
      audioWrites = 0;
    } else if (word === 'write') {
      if (rest.startsWith('audio/')) phase = `${where} audio ${++audioWrites}/${t?.audio.size ?? '?'}`;
      else phase = `${where} ${rest}`;
    } else if (word === 'done') phase = `${where} done`;
    else if (word === 'finished') phase = 'finished';
  }
  return phase;
}

// ---- ground truth ---------------------------------------------------------------------------------

async function groundTruth(sim: RunningSimulator): Promise<Map<string, Truth>> {
  const c = sim.control;
  const finished = c.conversations().filter((conversation) => conversation.is_finished);
  const truth = new Map<string, Truth>();
  for (const [index, conversation] of finished.entries()) {
    const messages = c.messages(conversation.id);
    const audio = new Map<string, { bytes: number; sha256: string }>();
    for (const m of messages.filter((m) => m.format !== 'text')) {
      const recording = c.audio(m.id);
      if (!recording) throw new Error(`The simulator has no recording for voice message ${m.id}`);
      audio.set(m.id, { bytes: recording.bytes, sha256: await recording.sha256() });
    }
    truth.set(conversation.id, {
      conversation,
      index,
      prefix: conversationPrefix(sim.organizationId, conversation.created_at, conversation.id),
      messageIds: messages.map((m) => m.id),
      agentInteractions: [
        ...new Set(messages.filter((m) => m.message_type === 'agent-message').map((m) => m.interaction_id)),
      ],
      audio,
    });
  }
  return truth;
}

// ---- inspection -----------------------------------------------------------------------------------

interface Inspection {
  readonly problems: string[];
  /** Folders with a manifest. */
  readonly committed: number;
  readonly tempFiles: number;
  readonly tempLinked: number;
  readonly lockFiles: number;
  /** Lock files without an owner (0 bytes): a writer was killed between creating and filling one. */
  readonly emptyLockFiles: number;
}

const OBJECT_KEY =
  /^conversations\/org=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/conversation=([a-f0-9]{24})\/(conversation\.json|messages\.jsonl|insights\.jsonl|manifest\.json|audio\/[a-f0-9]{24}\.[a-z0-9]+)$/;

/**
 * Checks the folder. Always: every folder with a manifest is whole (each listed file exists with that
 * size and sha256, nothing else is in it), no file is outside the layout except the store's own `.~`
 * files, and no folder belongs to a conversation that was not archived. At the end (`final`) also:
 * every conversation has exactly one committed folder, with the simulator's messages, insights,
 * conversation and recordings.
 */
async function inspect(
  root: string,
  truth: ReadonlyMap<string, Truth>,
  organizationId: string,
  final: boolean,
): Promise<Inspection> {
  const problems: string[] = [];
  let tempFiles = 0;
  let tempLinked = 0;
  let lockFiles = 0;
  let emptyLockFiles = 0;
  /** folder prefix -> object files in it (folder-relative) */
  const folders = new Map<string, Set<string>>();
  for (const file of await walk(root)) {
    const key = relative(root, file).split(sep).join('/');
    const base = key.slice(key.lastIndexOf('/') + 1);
    if (base.startsWith(RESERVED_SEGMENT_PREFIX)) {
      if (base.startsWith(`${RESERVED_SEGMENT_PREFIX}tmp.`)) {
        tempFiles++;
        if ((await lstat(file)).nlink > 1) tempLinked++;
      } else if (base.startsWith(`${RESERVED_SEGMENT_PREFIX}lock.`)) {
        lockFiles++;
        if ((await lstat(file)).size === 0) emptyLockFiles++;
      } else if (!base.startsWith(`${RESERVED_SEGMENT_PREFIX}etag.`))
        problems.push(`unknown internal file ${key}`);
      continue;
    }
    const match = OBJECT_KEY.exec(key);
    if (!match || match[1] !== organizationId) {
      problems.push(`stray file outside the layout: ${key}`);
      continue;
    }
    const path = match[4] as string;
    const prefix = key.slice(0, key.length - path.length);
    const t = truth.get(match[3] as string);
    if (!t) problems.push(`a folder for a conversation that was never archived: ${prefix}`);
    else if (t.prefix !== prefix) problems.push(`a second folder for ${t.conversation.id}: ${prefix}`);
    const files = folders.get(prefix) ?? new Set<string>();
    folders.set(prefix, files);
    files.add(path);
  }

  let committed = 0;
  const committedIds = new Set<string>();
  for (const [prefix, files] of folders) {
    if (!files.has(FILES.manifest)) continue;
    committed++;
    const folder = join(root, ...prefix.split('/'));
    let manifest: Manifest;
    try {
      manifest = parseDocument(
        prefix + FILES.manifest,
        await readFile(join(folder, FILES.manifest)),
        ManifestSchema,
      );
    } catch (error) {
      problems.push(`${prefix}${FILES.manifest} does not parse: ${(error as Error).message.slice(0, 200)}`);
      continue;
    }
    committedIds.add(manifest.conversation_id);
    // (b) and (e): a committed folder is never partial.
    const listed = new Set(manifest.files.map((f) => f.path));
    for (const file of manifest.files) {
      if (file.path.split('/').some((s) => s.startsWith(RESERVED_SEGMENT_PREFIX))) {
        problems.push(`${prefix}: the manifest references an internal file ${file.path}`);
        continue;
      }
      const actual = await hashFile(join(folder, ...file.path.split('/')));
      if (!actual) problems.push(`${prefix}: the manifest lists ${file.path}, which is missing`);
      else if (actual.bytes !== file.bytes || actual.sha256 !== file.sha256) {
        problems.push(
          `${prefix}: ${file.path} is ${actual.bytes} bytes sha256 ${actual.sha256.slice(0, 12)}…, ` +
            `the manifest says ${file.bytes} bytes sha256 ${file.sha256.slice(0, 12)}…`,
        );
      }
    }
    for (const path of files) {
      if (path !== FILES.manifest && !listed.has(path))
        problems.push(`${prefix}: ${path} is not in the manifest`);
    }
    const t = truth.get(manifest.conversation_id);
    if (!t || t.prefix !== prefix) {
      problems.push(`${prefix}: the manifest names conversation ${manifest.conversation_id}`);
      continue;
    }
    // (c): the content is the simulator's.
    problems.push(...(await checkContent(folder, prefix, manifest, t)));
  }

  if (final) {
    // (a): every conversation exactly once, committed.
    for (const t of truth.values()) {
      if (!committedIds.has(t.conversation.id)) {
        problems.push(
          folders.has(t.prefix)
            ? `${t.conversation.id} has a folder but no valid manifest`
            : `${t.conversation.id} was not archived`,
        );
      }
    }
  }
  return { problems, committed, tempFiles, tempLinked, lockFiles, emptyLockFiles };
}

async function checkContent(folder: string, prefix: string, manifest: Manifest, t: Truth): Promise<string[]> {
  const problems: string[] = [];
  const lines = async (name: string) =>
    (await readFile(join(folder, name), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const messageIds = (await lines(FILES.messages)).map((m) => m.id);
  if (!isDeepStrictEqual(messageIds, t.messageIds)) {
    problems.push(
      `${prefix}${FILES.messages}: ${messageIds.length} message ids differ from the simulator's ${t.messageIds.length}`,
    );
  }
  const insightIds = (await lines(FILES.insights)).map((i) => i.interaction_id);
  if (!isDeepStrictEqual(insightIds, t.agentInteractions)) {
    problems.push(`${prefix}${FILES.insights}: interactions differ from the simulator's`);
  }
  const conversation = JSON.parse(
    await readFile(join(folder, FILES.conversation), 'utf8').catch(() => 'null'),
  ) as unknown;
  if (!isDeepStrictEqual(conversation, t.conversation)) {
    problems.push(`${prefix}${FILES.conversation} differs from the simulator's conversation`);
  }
  const audio = manifest.files.filter((f) => f.path.startsWith('audio/'));
  if (audio.length !== t.audio.size || manifest.counts.audio !== t.audio.size) {
    problems.push(`${prefix}: ${audio.length} recordings listed, the conversation has ${t.audio.size}`);
  }
  for (const [messageId, recording] of t.audio) {
    const file = audio.find((f) => f.path === `audio/${messageId}.wav`);
    if (!file) problems.push(`${prefix}: the recording of ${messageId} is not in the manifest`);
    else if (file.sha256 !== recording.sha256 || file.bytes !== recording.bytes) {
      problems.push(`${prefix}: audio/${messageId}.wav differs from the simulator's recording`);
    }
  }
  return problems;
}

async function hashFile(path: string): Promise<{ bytes: number; sha256: string } | undefined> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).byteLength;
    }
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function walk(folder: string): Promise<string[]> {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return out;
    throw error;
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}

// ---- output ---------------------------------------------------------------------------------------

const WIDTHS = [5, 30, 30, 7, 4, 9];

function lockCell(locks: number, empty: number): string {
  return empty > 0 ? `${locks} (${empty} empty)` : String(locks);
}

function row(cells: string[]): string {
  return cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i] as number) : c)).join('  ');
}

function killCell(kill: KillRecord | undefined): string {
  if (!kill) return '-';
  return `${kill.drawnMs}: ${kill.completedFirst ? 'finished first' : kill.phase}`;
}

// ---- command line ---------------------------------------------------------------------------------

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      trials: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      trial: { type: 'string' },
      'double-kill': { type: 'string', default: '0.3' },
      out: { type: 'string', default: 'bench/results/crash-trials.json' },
    },
  });
  const report = await runCrashTrials({
    trials: Number(values.trials),
    seed: Number(values.seed),
    doubleKillRate: Number(values['double-kill']),
    ...(values.trial !== undefined ? { onlyTrial: Number(values.trial) } : {}),
    log: (line) => console.log(line),
  });
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(
    values.out,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ...report }, null, 2)}\n`,
  );
  console.log(`results: ${values.out}`);
  process.exitCode = report.failed > 0 ? 1 : 0;
}
