// Benchmark: peak memory (RSS) of archiving a conversation that holds one 400 MiB recording.
//
//   npm run bench:archive-rss [-- --mib 400 --limit-mb 157 --run lambda|source]
//
// The simulator (in this process) generates an organisation whose first finished voice conversation
// holds one recording of --mib MiB. That one conversation is archived by `archiveConversation` (the
// production stage and Amigo client) in a child process (bench/archive-rss-child.ts), so that the
// simulator and the S3 emulator are not counted, into
//   (a) a temp folder (FsArchiveStore), and
//   (b) S3 on the embedded emulator (fauxqs, run in this process; S3ArchiveStore streams a
//       multipart upload).
// The child runs as the archive worker runs in Lambda (--run lambda, the default): bundled by
// esbuild with the stack's bundling options (AMIGO_FUNCTION_BUNDLING_DEFAULTS), started with the
// stack's NODE_OPTIONS (--enable-source-maps) and the flags Lambda's Node bootstrap derives from the
// function's memory (FUNCTIONS.archiveWorker.memoryMb): --max-semi-space-size of a twentieth,
// --max-old-space-size of nine tenths, --expose-gc, --max-http-header-size. --run source runs the
// TypeScript file itself, as `npm start` does: Node's type stripping alone costs about 18 MB more.
// The child reports its VmHWM (/proc/self/status): the peak resident set of the whole process,
// Node itself included (process.resourceUsage().maxRSS of a forked child also counts the parent's
// resident set at the fork, so it is reported beside it as an upper bound only). This process then reads the stored recording back and checks its size and
// sha256 against the simulator's own (control.audio(id).sha256()), as well as the manifest's.
// Fails (exit 1) when a peak reaches --limit-mb (MB = 10^6 bytes; 157 MB = 150 MiB, issue #12's
// goal) or a hash differs.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startLocalAws } from '../local/fauxqs.ts';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../shared/adapters/s3-archive-store.ts';
import { conversationPrefix } from '../shared/archive-format/keys.ts';
import { FUNCTIONS } from '../shared/contract/topology.ts';
import type { ArchiveStore } from '../shared/ports/archive-store.ts';
import { type RunningSimulator, startSimulator } from '../sim/index.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';
import type { ChildJob, ChildReport } from './archive-rss-child.ts';
import { bundleLikeLambda, lambdaNodeFlags } from './lambda-process.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '400' },
    'limit-mb': { type: 'string', default: '157' },
    run: { type: 'string', default: 'lambda' },
    seed: { type: 'string', default: '1' },
    targets: { type: 'string', default: 'fs,s3' },
    out: { type: 'string', default: 'bench/results/archive-rss.json' },
  },
});
const mib = Number(values.mib);
const limitMb = Number(values['limit-mb']);
const seed = Number(values.seed);
const targets = String(values.targets).split(',') as Array<'fs' | 's3'>;
const CHILD = new URL('./archive-rss-child.ts', import.meta.url).pathname;
const run = String(values.run);
if (run !== 'lambda' && run !== 'source') throw new Error(`--run is lambda or source, not ${run}`);

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mb = (kib: number) => round((kib * 1024) / 1e6);

interface TargetResult {
  target: 'fs' | 's3';
  seconds: number;
  throughputMiBps: number;
  peakRssMB: number;
  peakRssMiB: number;
  baselineRssMB: number;
  /** process.resourceUsage().maxRSS: counts the parent at the fork too (an upper bound). */
  forkedMaxRssMB: number;
  sampledPeakMB: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  recordingBytes: number;
  manifestSha256Matches: boolean;
  storedSha256Matches: boolean;
  storedBytes: number;
  underLimit: boolean;
}

/** The child as Lambda would load it: one esbuild bundle, with the stack's options. */
function bundleChild(outdir: string): Promise<string> {
  return bundleLikeLambda(CHILD, join(outdir, 'archive-rss-child.mjs'));
}

function runChild(job: ChildJob, argv: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, BENCH_ARCHIVE_RSS_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`The archive child exited with ${code}`));
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as ChildReport);
      } catch {
        reject(new Error(`The archive child printed no report: ${stdout.slice(0, 500)}`));
      }
    });
  });
}

async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

const sim: RunningSimulator = await startSimulator({
  seed,
  conversations: 12,
  longConversations: 0,
  audio: { largeRecordings: 1, largeRecordingBytes: mib * 1_048_576 },
  rateLimits: { enabled: false },
  validateResponses: false,
});
const aws = await startLocalAws();
const folder = await mkdtemp(join(tmpdir(), 'amigo-qa-bench-rss-'));
const results: TargetResult[] = [];
const childArgv =
  run === 'lambda'
    ? [...lambdaNodeFlags(FUNCTIONS.archiveWorker.memoryMb), await bundleChild(folder)]
    : [CHILD];
try {
  const c = sim.control;
  const large = c.conversations().flatMap((conversation) =>
    c.messages(conversation.id).flatMap((message) => {
      const audio = message.format === 'text' ? undefined : c.audio(message.id);
      return audio && audio.bytes >= mib * 1_048_576 * 0.99 ? [{ conversation, message, audio }] : [];
    }),
  )[0];
  if (!large) throw new Error(`No conversation holds a ${mib} MiB recording`);
  const { conversation, message, audio } = large;
  const expected = await audio.sha256();
  const voice = c.messages(conversation.id).filter((m) => m.format !== 'text').length;
  console.log(
    `Conversation ${conversation.id}: ${c.messages(conversation.id).length} messages, ${voice} recordings, ` +
      `the large one ${message.id} of ${audio.bytes} bytes (sha256 ${expected.slice(0, 16)}...)`,
  );

  const s3 = aws.s3();
  await s3.send(new CreateBucketCommand({ Bucket: 'amigo-qa-bench' }));
  const amigo = simulatorSignIn(sim);
  for (const target of targets) {
    const store: ArchiveStore =
      target === 'fs'
        ? new FsArchiveStore(folder)
        : new S3ArchiveStore({ client: s3, bucket: 'amigo-qa-bench', prefix: 'archive' });
    const report = await runChild(
      {
        amigo,
        conversation,
        target:
          target === 'fs'
            ? { kind: 'fs', root: folder }
            : { kind: 's3', endpoint: aws.endpoint, bucket: 'amigo-qa-bench', prefix: 'archive' },
      },
      childArgv,
    );
    const file = report.files.find((f) => f.path.includes(message.id));
    if (!file) throw new Error(`The manifest lists no file for message ${message.id}`);
    const key = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id) + file.path;
    const stream = await store.getStream(key);
    if (!stream) throw new Error(`The stored recording ${key} is missing`);
    const stored = await hashStream(stream);
    const result: TargetResult = {
      target,
      seconds: round(report.seconds, 2),
      throughputMiBps: round(audio.bytes / 1_048_576 / report.seconds),
      peakRssMB: mb(report.maxRssKiB),
      peakRssMiB: round(report.maxRssKiB / 1024),
      baselineRssMB: mb(report.baselineMaxRssKiB),
      forkedMaxRssMB: mb(report.forkedMaxRssKiB),
      sampledPeakMB: {
        rss: round(report.sampled.rss / 1e6),
        heapUsed: round(report.sampled.heapUsed / 1e6),
        external: round(report.sampled.external / 1e6),
        arrayBuffers: round(report.sampled.arrayBuffers / 1e6),
      },
      recordingBytes: file.bytes,
      manifestSha256Matches: file.sha256 === expected && file.bytes === audio.bytes,
      storedSha256Matches: stored.sha256 === expected && stored.bytes === audio.bytes,
      storedBytes: stored.bytes,
      underLimit: mb(report.maxRssKiB) < limitMb,
    };
    results.push(result);
    // Free the emulator's copy before the next target.
    if (target === 's3') await store.delete(key);
    else await rm(join(folder, 'conversations'), { recursive: true, force: true });
  }
} finally {
  await aws.stop();
  await sim.stop();
  await rm(folder, { recursive: true, force: true });
}

console.log(
  `\nArchiving one conversation with a ${mib} MiB recording (child process run as ${run}: ${childArgv.join(' ').replaceAll(folder, '<tmp>')}; limit ${limitMb} MB)\n`,
);
console.table(
  results.map((r) => ({
    target: r.target,
    'peak RSS MB': r.peakRssMB,
    'baseline RSS MB': r.baselineRssMB,
    'peak heap MB': r.sampledPeakMB.heapUsed,
    'peak arrayBuffers MB': r.sampledPeakMB.arrayBuffers,
    seconds: r.seconds,
    'MiB/s': r.throughputMiBps,
    'sha256 ok': r.manifestSha256Matches && r.storedSha256Matches,
  })),
);
const ok =
  results.length === targets.length &&
  results.every((r) => r.underLimit && r.manifestSha256Matches && r.storedSha256Matches);
writeFileSync(
  String(values.out),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      recordingMiB: mib,
      run,
      childFlags: childArgv.slice(0, -1),
      limitMB: limitMb,
      results,
      pass: ok,
    },
    null,
    2,
  )}\n`,
);
console.log(
  `\n${ok ? 'PASS' : 'FAIL'}: peak RSS < ${limitMb} MB and the stored recording's sha256 matches (written to ${values.out})`,
);
process.exitCode = ok ? 0 : 1;
