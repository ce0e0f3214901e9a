// Child process of bench/listing-run.ts: one warm scheduler container. It invokes the scheduler
// handler (functions/scheduler/handler.ts, the production stage, Amigo client, S3 store and SQS
// queues) with a short function timeout, and after every hand-over takes the continuation message
// from the scheduler queue and invokes again with it, as Lambda's event source mapping would, until
// the listing is done. Its own process, so neither the simulator nor the emulators (both in the
// parent) are counted. Writes one JSON report to the file named in the job.
//
// Measured per invocation: peak RSS (sampled every 20 ms while it runs), the heap left after a full
// GC once it returned (what the container keeps), CPU time, wall time, and the S3/SQS requests the
// handler made (an SDK middleware; the hand-over's receive/delete are Lambda's poller, not ours).
import { writeFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { createSchedulerHandler, type SchedulerEvent } from '../functions/scheduler/handler.ts';
import { S3ArchiveStore } from '../shared/adapters/s3-archive-store.ts';
import { SqsJobQueue } from '../shared/adapters/sqs-job-queue.ts';
import { AmigoClient } from '../shared/amigo/client.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../shared/jobs/archive.ts';
import { systemClock } from '../shared/ports/clock.ts';

export interface ListingChildJob {
  readonly amigo: {
    baseUrl: string;
    organizationId: string;
    apiKey: string;
    apiKeyId: string;
    userId: string;
  };
  readonly endpoint: string;
  readonly bucket: string;
  readonly archiveQueueUrl: string;
  readonly schedulerQueueUrl: string;
  /** The simulated function timeout: getRemainingTimeInMillis counts down from it. */
  readonly timeoutMs: number;
  /** The stage hands over when less than this remains. */
  readonly minRemainingMs: number;
  /** Conversations per listed page (the API's maximum, 150, when absent). */
  readonly pageSize?: number | undefined;
  readonly reportFile: string;
}

export interface InvocationFigures {
  readonly status: string;
  readonly listed: number;
  readonly peakRssBytes: number;
  /** Heap used after a full GC once the invocation returned (null without --expose-gc). */
  readonly heapAfterGcBytes: number | null;
  readonly cpuMs: number;
  readonly wallMs: number;
}

export interface ListingChildReport {
  readonly invocations: InvocationFigures[];
  /** process.resourceUsage().maxRSS after start-up (imports, clients, sign-in), KiB. */
  readonly baselineMaxRssKiB: number;
  /** process.resourceUsage().maxRSS at the end: the peak of the whole process, KiB. */
  readonly maxRssKiB: number;
  /** Requests the handler made, by command (S3 and SQS). */
  readonly requests: Record<string, number>;
  readonly counts: Record<string, number>;
}

const job = JSON.parse(process.env.BENCH_LISTING_JOB ?? 'null') as ListingChildJob | null;
if (!job) throw new Error('BENCH_LISTING_JOB is not set: this file is run by bench/listing-run.ts');

const requests: Record<string, number> = {};
let counting = false;
const count = (service: string, command: string | undefined) => {
  if (!counting) return;
  const name = `${service} ${command?.replace(/Command$/, '')}`;
  requests[name] = (requests[name] ?? 0) + 1;
};
const COUNTER = { step: 'initialize', name: 'benchCountRequests' } as const;
const aws = {
  endpoint: job.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
};
const s3 = new S3Client({ ...aws, forcePathStyle: true });
s3.middlewareStack.add(
  (next, context) => (args) => {
    count('S3', context.commandName);
    return next(args);
  },
  COUNTER,
);
const sqs = new SQSClient(aws);
sqs.middlewareStack.add(
  (next, context) => (args) => {
    count('SQS', context.commandName);
    return next(args);
  },
  COUNTER,
);

// The simulator runs without rate limits here: this measures our own work, not pacing.
const amigo = new AmigoClient(
  resolveAmigoConfig({
    ...job.amigo,
    rateLimits: { 'get-conversations': '100000/s', 'sign-in-with-api-key': '100000/s' },
  }),
);
await amigo.warmUp();

const handler = createSchedulerHandler(async () => ({
  amigo,
  store: new S3ArchiveStore({ client: s3, bucket: job.bucket }),
  clock: systemClock,
  jobs: new SqsJobQueue<ArchiveJobMessage>({ client: sqs, queueUrl: job.archiveQueueUrl }),
  continuation: new SqsJobQueue<ContinueListingMessage>({ client: sqs, queueUrl: job.schedulerQueueUrl }),
  options: {
    organizationId: job.amigo.organizationId,
    lookbackMs: 7 * 86_400_000,
    deferUnanalyzed: true,
    minRemainingMs: job.minRemainingMs,
    ...(job.pageSize ? { pageSize: job.pageSize } : {}),
  },
}));

const gc = (globalThis as { gc?: () => void }).gc;
const baselineMaxRssKiB = process.resourceUsage().maxRSS;
const invocations: InvocationFigures[] = [];
let event: SchedulerEvent = { tasks: ['archive'] };
let counts: Record<string, number> = {};

for (let n = 1; ; n++) {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const deadline = Date.now() + job.timeoutMs;
  const context = {
    functionName: 'amigo-qa-scheduler',
    awsRequestId: `bench-${n}`,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
  const cpu = process.cpuUsage();
  const started = performance.now();
  counting = true;
  const output = await handler(event, context);
  counting = false;
  const wallMs = performance.now() - started;
  const cpuUsed = process.cpuUsage(cpu);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  gc?.();
  const result = output.archive[0];
  if (!result) throw new Error('The scheduler listed nothing: it was invoked without the archive task');
  const listedBefore = invocations.reduce((sum, i) => sum + i.listed, 0);
  invocations.push({
    status: result.status,
    listed: result.counts.listed - listedBefore,
    peakRssBytes: peakRss,
    heapAfterGcBytes: gc ? process.memoryUsage().heapUsed : null,
    cpuMs: (cpuUsed.user + cpuUsed.system) / 1000,
    wallMs,
  });
  counts = { ...result.counts };
  if (result.status === 'listed') break;
  // Lambda's event source mapping: the hand-over message becomes the next invocation's event.
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: job.schedulerQueueUrl,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: 5,
    }),
  );
  const message = received.Messages?.[0];
  if (!message?.Body || !message.ReceiptHandle) throw new Error(`No hand-over after invocation ${n}`);
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: job.schedulerQueueUrl, ReceiptHandle: message.ReceiptHandle }),
  );
  event = {
    Records: [{ messageId: message.MessageId ?? `m-${n}`, body: message.Body } as SQSRecord],
  } satisfies SQSEvent;
}

const report: ListingChildReport = {
  invocations,
  baselineMaxRssKiB,
  maxRssKiB: process.resourceUsage().maxRSS,
  requests,
  counts,
};
writeFileSync(job.reportFile, JSON.stringify(report));
s3.destroy();
sqs.destroy();
