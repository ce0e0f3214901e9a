// One listing of `count` finished conversations through scheduler hand-overs (bench/listing.ts and
// its small setting in test/integration/listing-handover.test.ts): the simulator and the embedded
// S3/SQS emulator in this process, the scheduler in a child process (bench/listing-child.ts), then
// every message of the archive queue read back to check each conversation was enqueued exactly once.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { startLocalAws } from '../local/fauxqs.ts';
import { createQueueWithDlq } from '../local/sqs-runtime.ts';
import { FUNCTIONS } from '../shared/contract/topology.ts';
import { startSimulator } from '../sim/index.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';
import { bundleLikeLambda, lambdaNodeFlags } from './lambda-process.ts';
import type { ListingChildJob, ListingChildReport } from './listing-child.ts';

const CHILD = new URL('./listing-child.ts', import.meta.url).pathname;
/** Sim time over which the conversations arrive; the clock is then moved past their analysis. */
const ARRIVAL_SPAN_MS = 60_000;

export interface ListingSettings {
  readonly count: number;
  /** The simulated function timeout of each invocation. */
  readonly timeoutMs: number;
  /** Hand over when less than this remains. */
  readonly minRemainingMs: number;
  /** Conversations per listed page; absent: the API's maximum (150). */
  readonly pageSize?: number;
  readonly seed?: number;
  /** node argv of the child: from `childArgv` (the bundle with Lambda's flags, or the source). */
  readonly childArgv: readonly string[];
}

export interface ListingResult extends ListingChildReport {
  readonly count: number;
  /** Archive jobs read back from the queue: all of them, and distinct conversation ids. */
  readonly enqueuedMessages: number;
  readonly enqueuedDistinct: number;
  readonly wallSeconds: number;
}

/**
 * The child's node argv: `lambda` bundles it with the stack's esbuild options into `folder` and
 * runs the bundle with Lambda's flags for the scheduler's memory; `source` runs the TypeScript file.
 */
export async function childArgv(run: 'lambda' | 'source', folder: string): Promise<string[]> {
  if (run === 'source') return ['--expose-gc', CHILD];
  const outfile = await bundleLikeLambda(CHILD, join(folder, 'listing-child.mjs'));
  return [...lambdaNodeFlags(FUNCTIONS.scheduler.memoryMb), outfile];
}

function runChild(job: ListingChildJob, argv: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...argv], {
      env: {
        ...process.env,
        BENCH_LISTING_JOB: JSON.stringify(job),
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`The listing child exited with ${code}`)),
    );
  });
}

/** Reads (and deletes) every message of the queue; answers the job ids in order of receipt. */
async function drain(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const ids: string[] = [];
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }),
    );
    if (Messages.length === 0) {
      empty++;
      continue;
    }
    for (const m of Messages)
      ids.push((JSON.parse(m.Body ?? '{}') as { conversationId: string }).conversationId);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
  return ids;
}

export async function runListing(settings: ListingSettings): Promise<ListingResult> {
  const { count } = settings;
  const sim = await startSimulator({
    seed: settings.seed ?? 1,
    conversations: count,
    // Every conversation finished and analyzed, with one interaction: the listing is the subject,
    // and no conversation's messages are ever generated.
    arrivals: { days: 1, perDay: count, dayMs: ARRIVAL_SPAN_MS, interactions: 1, voiceShare: 0 },
    longConversations: 0,
    rateLimits: { enabled: false },
    validateResponses: false,
  });
  sim.control.advanceClock(3 * ARRIVAL_SPAN_MS);
  const aws = await startLocalAws();
  const folder = await mkdtemp(join(tmpdir(), 'amigo-qa-bench-listing-'));
  try {
    const s3 = aws.s3();
    const sqs = aws.sqs();
    await s3.send(new CreateBucketCommand({ Bucket: 'amigo-qa-bench' }));
    const archive = await createQueueWithDlq(sqs, 'amigo-qa-archive');
    const scheduler = await createQueueWithDlq(sqs, 'amigo-qa-scheduler');
    const reportFile = join(folder, 'report.json');
    const started = performance.now();
    await runChild(
      {
        amigo: simulatorSignIn(sim),
        endpoint: aws.endpoint,
        bucket: 'amigo-qa-bench',
        archiveQueueUrl: archive.queueUrl,
        schedulerQueueUrl: scheduler.queueUrl,
        timeoutMs: settings.timeoutMs,
        minRemainingMs: settings.minRemainingMs,
        pageSize: settings.pageSize,
        reportFile,
      },
      settings.childArgv,
    );
    const wallSeconds = (performance.now() - started) / 1000;
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ListingChildReport;
    const ids = await drain(sqs, archive.queueUrl);
    return {
      ...report,
      count,
      enqueuedMessages: ids.length,
      enqueuedDistinct: new Set(ids).size,
      wallSeconds,
    };
  } finally {
    await aws.stop();
    await sim.stop();
    await rm(folder, { recursive: true, force: true });
  }
}
