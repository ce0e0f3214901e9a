// Child process of bench/archive-rss.ts: archives one conversation (the production
// `archiveConversation` stage, the real AmigoClient) into a folder or an S3 bucket, then prints one
// JSON line with its peak memory. Its own process, so neither the simulator nor the S3 emulator (both
// in the parent) is counted. Input: the JSON in BENCH_ARCHIVE_RSS_JOB (see ChildJob).
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../shared/adapters/s3-archive-store.ts';
import { AmigoClient } from '../shared/amigo/client.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import { conversationId } from '../shared/ids.ts';
import type { ConversationInstance } from '../shared/openapi/index.ts';
import type { ArchiveStore } from '../shared/ports/archive-store.ts';
import { systemClock } from '../shared/ports/clock.ts';
import { archiveConversation } from '../shared/stages/archive-conversation.ts';

export interface ChildJob {
  readonly amigo: {
    baseUrl: string;
    organizationId: string;
    apiKey: string;
    apiKeyId: string;
    userId: string;
  };
  readonly conversation: ConversationInstance;
  readonly target:
    | { readonly kind: 'fs'; readonly root: string }
    | { readonly kind: 's3'; readonly endpoint: string; readonly bucket: string; readonly prefix: string };
}

export interface ChildReport {
  readonly manifestKey: string;
  readonly files: Array<{ path: string; bytes: number; sha256: string }>;
  readonly seconds: number;
  /** The process's peak resident set (VmHWM) before the archive started (after imports and sign-in), KiB. */
  readonly baselineMaxRssKiB: number;
  /** VmHWM at the end: the peak of the whole process, KiB. */
  readonly maxRssKiB: number;
  /**
   * process.resourceUsage().maxRSS at the end, KiB: on Linux a forked child's counts the parent's
   * resident set at the fork too, so it is only an upper bound (kept to show the difference).
   */
  readonly forkedMaxRssKiB: number;
  /** Peaks of process.memoryUsage() sampled every 50 ms, bytes. */
  readonly sampled: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
}

const job = JSON.parse(process.env.BENCH_ARCHIVE_RSS_JOB ?? 'null') as ChildJob | null;
if (!job) throw new Error('BENCH_ARCHIVE_RSS_JOB is not set: this file is run by bench/archive-rss.ts');

const sampled = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const m = process.memoryUsage();
  sampled.rss = Math.max(sampled.rss, m.rss);
  sampled.heapUsed = Math.max(sampled.heapUsed, m.heapUsed);
  sampled.external = Math.max(sampled.external, m.external);
  sampled.arrayBuffers = Math.max(sampled.arrayBuffers, m.arrayBuffers);
};
const sampler = setInterval(sample, 50);

let s3: S3Client | undefined;
let store: ArchiveStore;
if (job.target.kind === 'fs') {
  store = new FsArchiveStore(job.target.root);
} else {
  s3 = new S3Client({
    endpoint: job.target.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    forcePathStyle: true,
  });
  store = new S3ArchiveStore({ client: s3, bucket: job.target.bucket, prefix: job.target.prefix });
}

// The simulator runs without rate limits here: this measures memory, not pacing.
const config = resolveAmigoConfig({
  ...job.amigo,
  rateLimits: Object.fromEntries(
    [
      'get-conversations',
      'get-conversation-messages',
      'retrieve-message-source',
      'get-interaction-insights',
      'sign-in-with-api-key',
    ].map((id) => [id, '100000/s']),
  ),
});
const amigo = new AmigoClient(config);
await amigo.warmUp();
/** This process's own peak resident set (VmHWM in /proc/self/status), KiB. */
function peakRssKiB(): number {
  const match = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('No VmHWM in /proc/self/status: this benchmark needs Linux');
  return Number(match[1]);
}
const baselineMaxRssKiB = peakRssKiB();

const started = performance.now();
const outcome = await archiveConversation(
  {
    runId: null,
    organizationId: job.amigo.organizationId,
    conversationId: conversationId(job.conversation.id),
    conversation: job.conversation,
  },
  { amigo, store, clock: systemClock },
);
const seconds = (performance.now() - started) / 1000;
sample();
clearInterval(sampler);
if (outcome.status !== 'archived') throw new Error(`Expected a fresh archive, got ${outcome.status}`);

const report: ChildReport = {
  manifestKey: outcome.manifestKey,
  files: outcome.manifest.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })),
  seconds,
  baselineMaxRssKiB,
  maxRssKiB: peakRssKiB(),
  forkedMaxRssKiB: process.resourceUsage().maxRSS,
  sampled,
};
s3?.destroy();
process.stdout.write(`${JSON.stringify(report)}\n`);
