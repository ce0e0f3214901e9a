// The one audit every fault scenario ends with (issue #12: "nothing lost, nothing duplicated, a
// clear error"). It returns problems rather than asserting, so a scenario shows them all at once:
//
// 1. Every eligible conversation (the simulator's finished and analyzed ones) is complete exactly
//    once: its manifest is present, every file it lists hashes to the recorded sha256 (a recording
//    also to the simulator's own bytes), nothing else lies in its folder (no stray or half object,
//    `_staging/` empty), the manifest was written once (one successful PutObject through the
//    proxy), its pending marker is gone, and no multipart upload is left open. A conversation
//    without a manifest is only accepted when a pending marker (the next run sends it again) or a
//    dead letter with an expected reason accounts for it ("nothing silently lost").
// 2. Calls per Amigo operation stay within the limit in every window, twice: our own budget's
//    grants per (user, operation) within its bound in every sliding window of its window plus its
//    transit allowance (the times only the budget knows, ./fault-grants.ts: the verdict), every call
//    the simulator saw having taken a grant and every slot given back matching a 429 it answered;
//    and the calls the simulator answered within its own limit (its request log). 429s are rare.
// 3. No log line holds a secret (the API key, a bearer token) or any message text of the simulator.
// 4. Every dead letter carries a reason the scenario expects.
// 5. No recommendation was asked twice for one interaction.
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { expect as vitestExpect } from 'vitest';
import { ManifestSchema } from '../../shared/archive-format/documents.ts';
import { conversationPrefix, FILES, pendingKey, STAGING_DIR } from '../../shared/archive-format/keys.ts';
import { parseDocument } from '../../shared/archive-format/read-document.ts';
import type { OperationId } from '../../shared/openapi/index.ts';
import { grantWindows } from './fault-grants.ts';
import type { FaultWorld, Worker } from './fault-world.ts';
import { BUCKET, PREFIX } from './fault-world.ts';

export interface AuditExpectations {
  /** Dead-letter reasons the scenario causes on purpose (matched against `code: reason`). */
  deadLetters?: readonly RegExp[];
  /** Extra secrets that must not be logged (a rotated key). */
  secrets?: readonly string[];
  /** Share of Amigo calls that may be answered 429. @default 0.02 */
  max429Share?: number;
}

export interface DeadLetter {
  queue: Worker | 'scheduler';
  code: string;
  reason: string;
  conversationId: string | undefined;
}

export interface AuditReport {
  eligible: number;
  archived: number;
  /** Not archived yet, but marked pending: the next run enqueues them again. */
  pending: number;
  /** Successful manifest PutObjects seen by the S3 proxy (one per archived conversation). */
  manifestWrites: number;
  deadLetters: DeadLetter[];
  /** Highest share of an operation's limit used in any window (1 = at the limit). */
  peakWindowShare: number;
  /**
   * Highest share of an operation's deployed budget granted in any window of its window plus
   * transit allowance, counting the grants the server counted (429s given back left out).
   */
  peakBudgetShare: number;
  /** The same with the grants given back by a 429 counted too (may pass 1, by design). */
  peakBudgetShareAll: number;
  /** Slots the functions' budgets granted, and how many of them a 429 gave back. */
  grants: number;
  givenBack: number;
  /** Latest a grant resolved after its slot, ms. */
  maxGrantLateMs: number;
  share429: number;
  logLines: number;
  problems: string[];
}

export async function audit(world: FaultWorld, expect: AuditExpectations = {}): Promise<AuditReport> {
  const problems: string[] = [];
  const { sim, store } = world;
  const deadLetters = await readDeadLetters(world);
  for (const d of deadLetters) {
    const text = `${d.code}: ${d.reason}`;
    if (!(expect.deadLetters ?? []).some((r) => r.test(text))) {
      problems.push(`unexpected dead letter on ${d.queue}: ${text}`);
    }
  }

  // 1. Complete exactly once.
  const eligible = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
  const manifestPuts = new Map<string, number>();
  for (const call of world.proxies.s3.calls) {
    const status = call.landed ?? call.status;
    if (call.operation === 'PutObject' && status === 200 && call.path.endsWith(`/${FILES.manifest}`)) {
      // The SDK escapes keys in the path ('=' as %3D).
      const key = decodeURIComponent(call.path);
      manifestPuts.set(key, (manifestPuts.get(key) ?? 0) + 1);
    }
  }
  let archived = 0;
  let pending = 0;
  for (const conversation of eligible) {
    const prefix = conversationPrefix(sim.organizationId, conversation.created_at, conversation.id);
    const stored = await store.get(`${prefix}${FILES.manifest}`);
    const marker = await store.get(pendingKey(sim.organizationId, conversation.id));
    if (!stored) {
      const letter = deadLetters.find((d) => d.conversationId === conversation.id);
      if (marker) pending++;
      else if (!letter)
        problems.push(`${conversation.id}: not archived, not pending, in no dead-letter queue (lost)`);
      continue;
    }
    archived++;
    // A marker left behind would send the conversation again in every run.
    if (marker) problems.push(`${conversation.id}: archived but still marked pending`);
    const manifest = parseDocument(`${prefix}${FILES.manifest}`, String(stored.body), ManifestSchema);
    const listed = new Set<string>([FILES.manifest, FILES.tags]);
    for (const file of manifest.files) {
      listed.add(file.path);
      const body = (await store.get(prefix + file.path))?.body;
      if (body === undefined) {
        problems.push(`${conversation.id}: ${file.path} is in the manifest but missing`);
        continue;
      }
      const sha = createHash('sha256').update(body).digest('hex');
      if (sha !== file.sha256) problems.push(`${conversation.id}: ${file.path} does not match its sha256`);
      const audio = /^audio\/([^/.]+)\./.exec(file.path);
      const truth = audio ? sim.control.audio(audio[1] as string) : undefined;
      if (truth && (await truth.sha256()) !== sha) {
        problems.push(`${conversation.id}: ${file.path} differs from the recording Amigo serves`);
      }
    }
    for await (const object of store.list(prefix)) {
      const name = object.key.slice(prefix.length);
      if (name.startsWith(STAGING_DIR)) problems.push(`${conversation.id}: ${name} left in the staging area`);
      else if (!listed.has(name)) problems.push(`${conversation.id}: stray object ${name}`);
    }
    const puts = manifestPuts.get(`/${BUCKET}/${PREFIX}/${prefix}${FILES.manifest}`);
    if (puts !== 1) problems.push(`${conversation.id}: manifest written ${puts ?? 0} times`);
  }
  const multipart = { created: 0, ended: 0 };
  for (const call of world.proxies.s3.calls) {
    if (call.status < 200 || call.status >= 300) continue;
    if (call.operation === 'CreateMultipartUpload') multipart.created++;
    if (call.operation === 'CompleteMultipartUpload' || call.operation === 'AbortMultipartUpload') {
      multipart.ended++;
    }
  }
  if (multipart.created > multipart.ended) {
    problems.push(`${multipart.created - multipart.ended} multipart upload(s) left open`);
  }

  // 2. Calls per operation within the limit in every window. The verdict is our own budget's: its
  // grants, at the times it granted them, against its bound. The simulator's request log is no
  // verdict for the budget (its times are when the simulator, sharing one busy process with every
  // handler, got to a request), but it checks that no call bypassed the budget, that no slot was
  // given back without a 429, and that the calls it counted stayed within its own limit.
  const stats = sim.control.stats();
  const amigoCalls = stats.requests.filter((r) => r.operationId !== 'audio');
  const windows = grantWindows(world.grants, world.budget);
  for (const w of windows) {
    if (w.peakCounted > w.limit) {
      problems.push(
        `${w.key}: ${w.peakCounted} grants counted by the server in one window of ${w.spanMs} ms (budget ${w.limit})`,
      );
    }
  }
  const perOperation = new Map<
    string,
    { grants: number; givenBack: number; sent: number; answered429: number }
  >();
  const tally = (operationId: string) => {
    const t = perOperation.get(operationId) ?? { grants: 0, givenBack: 0, sent: 0, answered429: 0 };
    perOperation.set(operationId, t);
    return t;
  };
  for (const w of windows) {
    tally(w.operationId).grants += w.grants;
    tally(w.operationId).givenBack += w.givenBack;
  }
  for (const r of amigoCalls) {
    tally(r.operationId).sent++;
    if (r.status === 429) tally(r.operationId).answered429++;
  }
  for (const [operationId, t] of perOperation) {
    if (t.sent > t.grants) {
      problems.push(
        `${operationId}: ${t.sent} calls reached Amigo for ${t.grants} grants (the budget was bypassed)`,
      );
    }
    if (t.givenBack > t.answered429) {
      problems.push(`${operationId}: ${t.givenBack} slots given back for ${t.answered429} answers 429`);
    }
  }
  // Faults other than a delay answer without reaching the limiter: the server did not count them.
  const counted = amigoCalls.filter(
    (r) => r.status !== 429 && (r.fault === undefined || r.fault === 'delay'),
  );
  const server = peakShare(counted, world.limits);
  if (server.peak > 1) {
    problems.push(
      `${server.operation}: ${server.calls} calls answered in one window of the server (limit ${server.limit})`,
    );
  }
  const peakWindowShare = server.peak;
  const peakBudgetShare = Math.max(0, ...windows.map((w) => w.peakCounted / w.limit));
  const peakBudgetShareAll = Math.max(0, ...windows.map((w) => w.peakAll / w.limit));
  // 429s a scenario injected are the scenario's; the share is of those the limiter gave.
  const limited = amigoCalls.filter((r) => r.status === 429 && r.fault === undefined).length;
  const share429 = amigoCalls.length === 0 ? 0 : limited / amigoCalls.length;
  if (share429 > (expect.max429Share ?? 0.02)) {
    problems.push(`${(share429 * 100).toFixed(1)}% of Amigo calls answered 429`);
  }

  // 3. No secret and no message text in any log line.
  const secrets = [sim.credentials.apiKey, ...(expect.secrets ?? [])];
  const texts = new Set<string>();
  for (const c of sim.control.conversations()) {
    for (const m of sim.control.messages(c.id)) {
      const text = (m as { message?: unknown }).message;
      // Short texts ("ok", "yes") would match unrelated words: the audit looks for sentences.
      if (typeof text === 'string' && text.length >= 16) texts.add(text);
    }
  }
  for (const line of world.logs) {
    if (secrets.some((s) => line.includes(s))) problems.push('a log line holds a secret');
    if (/Bearer\s+[A-Za-z0-9._-]{16,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(line)) {
      problems.push('a log line holds a bearer token');
    }
    for (const text of texts) {
      if (line.includes(text)) {
        problems.push('a log line holds message text');
        break;
      }
    }
  }

  // 5. Nothing asked twice.
  const asked = new Map<string, number>();
  for (const w of stats.writes) {
    if (w.operationId !== 'recommend-responses-for-interaction' || w.status >= 300) continue;
    const key = `${w.conversationId}/${w.interactionId ?? ''}`;
    asked.set(key, (asked.get(key) ?? 0) + 1);
  }
  for (const [key, n] of asked) if (n > 1) problems.push(`recommendations asked ${n} times for ${key}`);

  const report: AuditReport = {
    eligible: eligible.length,
    archived,
    pending,
    manifestWrites: [...manifestPuts.values()].reduce((a, b) => a + b, 0),
    deadLetters,
    peakWindowShare,
    peakBudgetShare,
    peakBudgetShareAll,
    grants: world.grants.length,
    givenBack: windows.reduce((n, w) => n + w.givenBack, 0),
    maxGrantLateMs: Math.max(0, ...windows.map((w) => w.maxLateMs)),
    share429,
    logLines: world.logs.length,
    problems: [...new Set(problems)],
  };
  if (process.env.FAULTS_RESULTS) recordResult(process.env.FAULTS_RESULTS, world, report);
  return report;
}

/** Appends the scenario's figures to a JSON-lines file (bench/README.md, "faults"). */
function recordResult(file: string, world: FaultWorld, report: AuditReport): void {
  const injected = Object.fromEntries(Object.values(world.proxies).map((p) => [p.service, p.fired()]));
  const amigoFaults = world.sim.control.stats().requests.filter((r) => r.fault !== undefined).length;
  appendFileSync(
    file,
    `${JSON.stringify({
      scenario: vitestExpect.getState().currentTestName,
      injected: { ...injected, amigo: amigoFaults },
      eligible: report.eligible,
      archived: report.archived,
      pending: report.pending,
      deadLetters: report.deadLetters.map((d) => `${d.queue}: ${d.code}`),
      peakWindowShare: Number(report.peakWindowShare.toFixed(2)),
      peakBudgetShare: Number(report.peakBudgetShare.toFixed(2)),
      peakBudgetShareAll: Number(report.peakBudgetShareAll.toFixed(2)),
      grants: report.grants,
      givenBack: report.givenBack,
      maxGrantLateMs: report.maxGrantLateMs,
      runMs: world.runTimesMs.map((ms) => Math.round(ms)),
      // From the first slot granted to the last: the time the functions spent on Amigo calls.
      grantSpanMs: spanOf(world.grants.map((g) => g.slot)),
      budgetStats: sumStats(world.budgetStats),
      dynamodb: {
        calls: world.proxies.dynamodb.calls.length,
        injected: world.proxies.dynamodb.fired(),
      },
      share429: Number(report.share429.toFixed(4)),
      logLines: report.logLines,
      problems: report.problems.length,
    })}\n`,
  );
}

function spanOf(times: readonly number[]): number {
  return times.length === 0 ? 0 : Math.max(...times) - Math.min(...times);
}

function sumStats(all: readonly object[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const stats of all)
    for (const [k, v] of Object.entries(stats)) if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

type Limits = Record<OperationId, { limit: number; windowMs: number }>;

/** The busiest sliding window of any operation, as a share of its limit. */
function peakShare(
  calls: ReadonlyArray<{ operationId: string; at: number }>,
  limits: Limits,
): { peak: number; operation: string; calls: number; limit: number } {
  const byOperation = new Map<string, number[]>();
  for (const c of calls) byOperation.set(c.operationId, [...(byOperation.get(c.operationId) ?? []), c.at]);
  let worst = { peak: 0, operation: '', calls: 0, limit: 0 };
  for (const [operation, times] of byOperation) {
    const { limit, windowMs } = limits[operation as OperationId];
    times.sort((a, b) => a - b);
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while ((times[end] as number) - (times[start] as number) >= windowMs) start++;
      const n = end - start + 1;
      if (n / limit > worst.peak) worst = { peak: n / limit, operation, calls: n, limit };
    }
  }
  return worst;
}

async function readDeadLetters(world: FaultWorld): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  for (const [queue, { dlqUrl }] of Object.entries(world.queues) as Array<
    [Worker | 'scheduler', { dlqUrl: string }]
  >) {
    for (;;) {
      const answer = await world.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          VisibilityTimeout: 600,
          WaitTimeSeconds: 0,
        }),
      );
      const messages = answer.Messages ?? [];
      if (messages.length === 0) break;
      for (const m of messages) {
        let conversationId: string | undefined;
        try {
          conversationId = (JSON.parse(m.Body ?? '{}') as { conversationId?: string }).conversationId;
        } catch {
          conversationId = undefined;
        }
        out.push({
          queue,
          // A message the queue's redrive moved (no reason attribute) is named as such.
          code: m.MessageAttributes?.['failure-code']?.StringValue ?? 'redriven',
          reason: m.MessageAttributes?.['failure-reason']?.StringValue ?? 'moved by the redrive policy',
          conversationId,
        });
      }
    }
  }
  return out;
}
