// The cost model: what the simulated week counted, per 1,000 conversations, priced at us-east-1
// list prices. Every count is from the run (bench/week-run.ts) except where a row says "model".
import { readFileSync } from 'node:fs';
import type { WeekResult } from './week-run.ts';

/**
 * us-east-1 list prices (first tier, no free tier), from the AWS pricing pages
 * (aws.amazon.com/lambda/pricing, /s3/pricing, /sqs/pricing, /dynamodb/pricing/on-demand,
 * /kms/pricing) as of 2026-12-01, written down by hand: the benchmark does not fetch them. Lambda's
 * arm64 rate and DynamoDB's on-demand rates (after the November 2024 cut) were checked against stored
 * copies of public pricing write-ups; the rest is from the pricing pages as known. Check before relying
 * on the total.
 */
export const PRICES = {
  asOf: '2026-12-01',
  source:
    'AWS price list (pricing pages), us-east-1, first tier, as of 2026-12-01; written by hand, not fetched by the benchmark',
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequestPerMillion: 0.2,
  s3PutClassPer1000: 0.005,
  s3GetClassPer1000: 0.0004,
  s3StandardGbMonth: 0.023,
  sqsPerMillion: 0.4,
  dynamoWriteUnitPerMillion: 0.625,
  dynamoReadUnitPerMillion: 0.125,
  kmsPer10000: 0.03,
} as const;

/** PUT, COPY, POST, LIST requests (S3's dearer class); DELETE is free; the rest is GET-class. */
const S3_PUT_CLASS = new Set([
  'PutObject',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'CompleteMultipartUpload',
  'ListObjectsV2',
  'ListObjects',
]);
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);

/** Lambda's SQS pollers, per queue, when the queue is idle: 5 pollers x a 20 s long poll (model). */
const IDLE_POLLS_PER_QUEUE_DAY = 5 * 3 * 60 * 24;
const QUEUES = 4;

export interface CostRow {
  item: string;
  per1000: number;
  unit: string;
  usd: number;
  basis: 'counted' | 'model';
}

export interface PricedWeek {
  prices: typeof PRICES;
  assumptions: string[];
  rows: CostRow[];
  totalPer1000: number;
}

const r = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Rate-budget DynamoDB requests per grant, from bench/results/shared-budget.json (nearest worker count). */
function budgetPerGrant(workers: number): { reads: number; writes: number; workers: number } {
  try {
    const file = JSON.parse(readFileSync('bench/results/shared-budget.json', 'utf8')) as {
      runs: Array<{ workers: number; readsPerGrant: number; writesPerGrant: number }>;
    };
    const row = file.runs.reduce((a, b) =>
      Math.abs(b.workers - workers) < Math.abs(a.workers - workers) ? b : a,
    );
    return { reads: row.readsPerGrant, writes: row.writesPerGrant, workers: row.workers };
  } catch {
    return { reads: 1.21, writes: 1.53, workers: 4 };
  }
}

export function priceWeek(week: WeekResult): PricedWeek {
  const c = week.counts;
  const { perDay, referencePerDay } = week.config;
  // The full organisation has referencePerDay/perDay times the conversations in the same hours.
  const orgFactor = referencePerDay / perDay;
  const per1000 = (n: number) => (n / week.conversations) * 1000;
  const rows: CostRow[] = [];

  // Lambda: the archive worker waits for the Amigo budget inside its invocation, so while a backlog
  // exists the deployed concurrency is busy; the local run's waits are compressed by the fast clock.
  const archive = c.lambda['archive-worker'];
  const archiveGb = (archive?.memoryMb ?? 1024) / 1024;
  const archiveGbSeconds =
    (c.productionArchiveConcurrency * archiveGb * c.archiveBusyHours * 3600) /
    (week.conversations * orgFactor);
  rows.push({
    item: `Lambda archive-worker GB-s (model: ${c.productionArchiveConcurrency} deployed invocations x ${archiveGb} GB busy for the ${c.archiveBusyHours} simulated h the archive queue had work)`,
    per1000: r(archiveGbSeconds * 1000, 1),
    unit: 'GB-s',
    usd: r(archiveGbSeconds * 1000 * PRICES.lambdaArmGbSecond),
    basis: 'model',
  });
  let otherGbSeconds = 0;
  for (const [name, l] of Object.entries(c.lambda)) {
    if (name === 'archive-worker') continue;
    otherGbSeconds += (l.seconds * l.memoryMb) / 1024;
  }
  rows.push({
    item: 'Lambda GB-s of the other functions (counted: local invocation time x deployed memory)',
    per1000: r(per1000(otherGbSeconds), 1),
    unit: 'GB-s',
    usd: r(per1000(otherGbSeconds) * PRICES.lambdaArmGbSecond),
    basis: 'counted',
  });
  const invocations = Object.values(c.lambda).reduce((s, l) => s + l.invocations, 0);
  rows.push({
    item: 'Lambda requests (counted invocations, all functions)',
    per1000: r(per1000(invocations), 1),
    unit: 'requests',
    usd: r((per1000(invocations) / 1e6) * PRICES.lambdaRequestPerMillion),
    basis: 'counted',
  });

  let putClass = 0;
  let getClass = 0;
  for (const [name, n] of Object.entries(c.s3)) {
    if (S3_FREE.has(name)) continue;
    if (S3_PUT_CLASS.has(name)) putClass += n;
    else getClass += n;
  }
  rows.push({
    item: 'S3 PUT/COPY/POST/LIST requests (counted)',
    per1000: r(per1000(putClass), 1),
    unit: 'requests',
    usd: r((per1000(putClass) / 1000) * PRICES.s3PutClassPer1000),
    basis: 'counted',
  });
  rows.push({
    item: 'S3 GET/HEAD requests (counted)',
    per1000: r(per1000(getClass), 1),
    unit: 'requests',
    usd: r((per1000(getClass) / 1000) * PRICES.s3GetClassPer1000),
    basis: 'counted',
  });
  const gb = per1000(c.s3BytesStored) / 1024 ** 3;
  rows.push({
    item: 'S3 Standard storage, each month the archive is kept (counted bytes)',
    per1000: r(gb, 4),
    unit: 'GB-month',
    usd: r(gb * PRICES.s3StandardGbMonth),
    basis: 'counted',
  });
  rows.push({
    item: 'SQS requests that carried messages (counted, 64 KiB chunks)',
    per1000: r(per1000(c.sqsBilled), 1),
    unit: 'requests',
    usd: r((per1000(c.sqsBilled) / 1e6) * PRICES.sqsPerMillion),
    basis: 'counted',
  });
  const idlePer1000 = ((IDLE_POLLS_PER_QUEUE_DAY * QUEUES) / referencePerDay) * 1000;
  rows.push({
    item: `SQS idle polls of Lambda's pollers (model: ${QUEUES} queues x 5 pollers x 3 a minute, at ${referencePerDay} conversations a day)`,
    per1000: r(idlePer1000, 1),
    unit: 'requests',
    usd: r((idlePer1000 / 1e6) * PRICES.sqsPerMillion),
    basis: 'model',
  });
  const budget = budgetPerGrant(c.productionArchiveConcurrency);
  const grants = per1000(
    Object.entries(c.amigoCalls)
      .filter(([op]) => op !== 'audio')
      .reduce((sum, [, n]) => sum + n, 0),
  );
  rows.push({
    item: `DynamoDB write units of the rate budget (model: ${grants.toFixed(0)} counted grants x ${budget.writes} writes per grant, bench:shared-budget at ${budget.workers} workers; items under 1 KB)`,
    per1000: r(grants * budget.writes, 1),
    unit: 'WRU',
    usd: r(((grants * budget.writes) / 1e6) * PRICES.dynamoWriteUnitPerMillion),
    basis: 'model',
  });
  rows.push({
    item: `DynamoDB read units of the rate budget (model: x ${budget.reads} strongly consistent reads per grant, items under 4 KB)`,
    per1000: r(grants * budget.reads, 1),
    unit: 'RRU',
    usd: r(((grants * budget.reads) / 1e6) * PRICES.dynamoReadUnitPerMillion),
    basis: 'model',
  });
  // SSE-KMS with an S3 Bucket Key (infra/constructs/archive-bucket.ts): S3 asks KMS for a bucket-level
  // key about once per key lifetime, not per object. Without it: one KMS call per object written or read.
  const kmsWithout = per1000(
    (c.s3.PutObject ?? 0) +
      (c.s3.CreateMultipartUpload ?? 0) +
      (c.s3.GetObject ?? 0) +
      (c.s3.CopyObject ?? 0),
  );
  rows.push({
    item: 'KMS requests with the S3 Bucket Key the stack enables (model: a few a day, not per object; counted as 0)',
    per1000: 0,
    unit: 'requests',
    usd: 0,
    basis: 'model',
  });
  rows.push({
    item: `(for comparison, not in the total) KMS requests without a Bucket Key: one per object written or read (${kmsWithout.toFixed(0)})`,
    per1000: r(kmsWithout, 1),
    unit: 'requests',
    usd: r((kmsWithout / 10_000) * PRICES.kmsPer10000),
    basis: 'model',
  });
  const totalPer1000 = r(
    rows.filter((row) => !row.item.startsWith('(for comparison')).reduce((s, row) => s + row.usd, 0),
  );
  return {
    prices: PRICES,
    assumptions: [
      `Counted in the simulated week: ${week.conversations} conversations; per-1,000 figures divide by that.`,
      `Limits scaled by ${perDay}/${referencePerDay}: the full organisation makes the same calls per conversation, so counts per conversation carry over; the archive worker's busy hours are the same hours for ${orgFactor}x the conversations.`,
      'Lambda: arm64 (the stack default), memory from shared/contract/topology.ts. The archive worker is modelled as running at its deployed concurrency for every simulated hour in which at least one archive invocation ran locally (its invocations wait for the budget inside Lambda); the local invocation times are compressed by the fast clock and not used for it.',
      'S3: requests counted by a middleware on the archive S3 client, per HTTP attempt; DELETE is free; storage is Standard and billed per month kept (no lifecycle rule assumed).',
      'SQS: every request that carried or deleted messages is counted by a wrapper around SQSClient.send, sends in 64 KiB chunks; idle long polls of Lambda pollers are a fixed model (local polls run at a 1 s wait on a fast clock).',
      'DynamoDB: the local run uses the in-process budget; the DynamoDB budget costs per grant what bench/results/shared-budget.json measured (on-demand capacity).',
      'KMS: SSE-KMS with an S3 Bucket Key (the stack sets bucketKeyEnabled).',
      'Not priced: CloudWatch logs and metrics, Secrets Manager (one read per cold start, $0.40 a secret a month), EventBridge Scheduler, data transfer out of Amigo, free tiers.',
    ],
    rows,
    totalPer1000,
  };
}
