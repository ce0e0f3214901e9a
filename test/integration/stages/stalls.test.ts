// The stall stages against the simulator (real HTTP) and a folder archive store: the scan
// (findStalls) finds stalled interactions and enqueues one job each into an in-memory queue; the
// request stage (requestRecommendation, and the stall worker handler around it) asks Amigo at most
// once per interaction. Recommend calls are counted from the simulator's own records.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createStallWorkerHandler, type StallWorkerDeps } from '../../../functions/stall-worker/handler.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { AmigoUnavailableError } from '../../../shared/amigo/errors.ts';
import type { AmigoClientConfigInput } from '../../../shared/amigo/index.ts';
import { type StallRecord, StallRecordSchema } from '../../../shared/archive-format/documents.ts';
import { stallKey } from '../../../shared/archive-format/keys.ts';
import { parseDocument, readDocument } from '../../../shared/archive-format/read-document.ts';
import type { ArchiveJobMessage, ContinueListingMessage } from '../../../shared/jobs/archive.ts';
import { type StallJobMessage, StallJobSchema, stallJobId } from '../../../shared/jobs/stall.ts';
import type { AmigoApi } from '../../../shared/ports/amigo-api.ts';
import { type Clock, systemClock } from '../../../shared/ports/clock.ts';
import { emptyStallCounts, type FindStallsOptions, findStalls } from '../../../shared/stages/find-stalls.ts';
import {
  type RequestRecommendationDeps,
  requestRecommendation,
} from '../../../shared/stages/request-recommendation.ts';
import { runScheduler } from '../../../shared/stages/run-scheduler.ts';
import { clientFor } from '../../support/client.ts';
import { MemoryQueue } from '../../support/memory-queue.ts';
import { silentTelemetry } from '../../support/silent-telemetry.ts';
import { startTestSimulator, type TestSimulator } from '../../support/simulator.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const RECOMMEND = 'recommend-responses-for-interaction';
const MODIFY_TAGS = 'modify-tags-of-conversation';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(client: Partial<AmigoClientConfigInput> = {}, conversations = 40) {
  const sim = await startTestSimulator({
    rateLimits: { enabled: false },
    conversations,
    longConversations: 0,
  });
  cleanups.push(() => sim.stop());
  const root = await mkdtemp(join(tmpdir(), 'stall-stage-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const store = new FsArchiveStore(root);
  const amigo = clientFor(sim, client);
  // The scan's view of the API, recording which conversations' messages it reads.
  const messageReads: string[] = [];
  const scanApi: Pick<AmigoApi, 'conversationPages' | 'messages'> = {
    conversationPages: (query, options) => amigo.conversationPages(query, options),
    messages: (id, query, options) => {
      messageReads.push(id);
      return amigo.messages(id, query, options);
    },
  };
  // The pipeline's clock is the simulator's: advancing it ages (and finishes) conversations.
  const clock: Clock = { now: () => sim.control.now().getTime(), sleep: systemClock.sleep };
  const jobs = new MemoryQueue<StallJobMessage>();
  // One hour: every 'stalled' conversation is older (2-48 h), while 'active' and 'finishes-during-run'
  // ones started less than that ago, so the simulator's real-time clock cannot move a message
  // across the threshold during a test (the stage's default use is `stall.afterMs`, 30m).
  const options: FindStallsOptions = { organizationId: sim.organizationId, afterMs: HOUR, pageSize: 7 };
  const scanDeps = { amigo: scanApi, store, jobs, clock, log: silentTelemetry.log };
  const requestDeps: RequestRecommendationDeps = { amigo, store, clock, contexts: {}, tag: null };
  return { sim, store, amigo, messageReads, clock, jobs, options, scanDeps, requestDeps };
}

/** Ground truth: unfinished conversations whose newest user/agent message is the agent's, at least `afterMs` old. */
function expectedStalls(sim: TestSimulator, afterMs: number): Map<string, string> {
  const now = sim.control.now().getTime();
  const out = new Map<string, string>();
  for (const c of sim.control.conversations()) {
    if (c.is_finished) continue;
    const said = sim.control
      .messages(c.id)
      .filter((m) => m.message_type === 'user-message' || m.message_type === 'agent-message');
    const newest = said.at(-1);
    if (newest?.message_type === 'agent-message' && now - Date.parse(newest.created_at) >= afterMs) {
      out.set(c.id, newest.interaction_id);
    }
  }
  return out;
}

function recommendWrites(sim: TestSimulator) {
  return sim.control.stats().writes.filter((w) => w.operationId === RECOMMEND);
}

function recommendRequests(sim: TestSimulator): number {
  return sim.control.stats().requests.filter((r) => r.operationId === RECOMMEND).length;
}

/** The job as the worker receives it: through JSON and the schema, like an SQS message. */
function received(body: StallJobMessage): StallJobMessage {
  return StallJobSchema.parse(JSON.parse(JSON.stringify(body)));
}

async function readRecord(store: FsArchiveStore, body: StallJobMessage): Promise<StallRecord | undefined> {
  return readDocument(
    store,
    stallKey(body.organizationId, body.conversationCreatedAt, body.conversationId, body.interactionId),
    StallRecordSchema,
  );
}

function sqsRecord(body: unknown, messageId: string): SQSRecord {
  const jobId =
    typeof body === 'object' && body !== null && 'conversationId' in body && 'interactionId' in body
      ? stallJobId(String(body.conversationId), String(body.interactionId))
      : messageId;
  return {
    messageId,
    receiptHandle: messageId,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: { 'job-id': { dataType: 'String', stringValue: jobId } },
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:stall',
    awsRegion: 'us-east-1',
  };
}

function lambdaContext(): Context {
  const deadline = Date.now() + 300_000;
  return {
    functionName: 'stall-worker',
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as Context;
}

function workerFor(requestDeps: RequestRecommendationDeps) {
  const deadLetters: Array<{ body: string; code: string }> = [];
  const putBack = new MemoryQueue<StallJobMessage>();
  const deps: StallWorkerDeps = {
    amigo: requestDeps.amigo,
    store: requestDeps.store,
    clock: requestDeps.clock,
    contexts: requestDeps.contexts,
    tag: requestDeps.tag,
    jobs: putBack,
    deadLetters: { send: async (body, reason) => void deadLetters.push({ body, code: reason.code }) },
    maxReceiveCount: 5,
  };
  const handler = createStallWorkerHandler(async () => deps);
  const invoke = async (records: SQSRecord[]) =>
    (await handler({ Records: records } as SQSEvent, lambdaContext())) as {
      batchItemFailures: Array<{ itemIdentifier: string }>;
    };
  return { invoke, deadLetters, putBack };
}

describe('findStalls', () => {
  it('when conversations are stalled, then each gets exactly one job (batches of 10) and active, fresh and finished ones get none', async () => {
    const { sim, jobs, options, scanDeps } = await setup();
    const expected = expectedStalls(sim, options.afterMs);
    const stalled = sim.control.conversations().filter((c) => sim.control.scenario(c.id) === 'stalled');
    expect(stalled.length).toBeGreaterThan(0);

    const counts = await findStalls(options, scanDeps);

    const found = new Map(
      jobs.jobs.map((j) => [j.body.conversationId as string, j.body.interactionId as string]),
    );
    expect(found).toEqual(expected);
    for (const c of stalled) expect(found.has(c.id), `stalled ${c.id}`).toBe(true);
    for (const id of found.keys()) {
      expect(['stalled', 'finishes-during-run']).toContain(sim.control.scenario(id));
      expect(sim.control.conversation(id)?.is_finished).toBe(false);
    }
    expect(new Set(jobs.jobs.map((j) => j.id)).size).toBe(jobs.jobs.length);
    expect(jobs.batches.every((n) => n <= 10)).toBe(true);
    expect(counts.enqueued).toBe(expected.size);
    expect(counts.candidates).toBe(expected.size);
    const unfinished = sim.control.conversations().filter((c) => !c.is_finished).length;
    expect(counts.unfinished).toBe(unfinished);
    expect(counts.candidates + counts.alreadyRequested + counts.notConcluded + counts.fresh).toBe(unfinished);
    // Active conversations started less than the threshold ago: decided from the listing alone.
    const active = sim.control.conversations().filter((c) => sim.control.scenario(c.id) === 'active');
    expect(active.length).toBeGreaterThan(0);
    expect(counts.fresh).toBeGreaterThanOrEqual(active.length);

    const job = jobs.jobs.find((j) => sim.control.scenario(j.body.conversationId) === 'stalled');
    const body = received(job?.body as StallJobMessage);
    const conversation = sim.control.conversation(body.conversationId);
    const lastAgent = sim.control
      .messages(body.conversationId)
      .filter((m) => m.message_type === 'agent-message')
      .at(-1);
    expect(body).toMatchObject({
      kind: 'stall',
      v: 1,
      organizationId: sim.organizationId,
      conversationCreatedAt: conversation?.created_at,
      serviceId: conversation?.service_id,
      numMessages: conversation?.num_messages,
      tagKeys: Object.keys(conversation?.tags ?? {}),
      deferrals: 0,
      lastAgentMessage: {
        id: lastAgent?.id,
        created_at: lastAgent?.created_at,
        message: lastAgent?.message,
        format: lastAgent?.format,
      },
    });
  });

  it('when the threshold is longer than any stall, then everything is fresh and nothing is enqueued', async () => {
    const { sim, jobs, options, scanDeps } = await setup();

    const counts = await findStalls({ ...options, afterMs: 72 * HOUR }, scanDeps);

    expect(jobs.jobs).toHaveLength(0);
    expect(counts.enqueued).toBe(0);
    const stalled = sim.control.conversations().filter((c) => sim.control.scenario(c.id) === 'stalled');
    expect(counts.fresh).toBeGreaterThanOrEqual(stalled.length);
    expect(recommendWrites(sim)).toHaveLength(0);
  });

  it('when the user spoke last, then the conversation is not concluded and gets no job', async () => {
    const { sim, jobs, options, scanDeps, messageReads } = await setup();
    // Active conversations are generated whole: nothing arrives while the test runs.
    const waiting = sim.control.conversations().filter((c) => {
      const said = sim.control
        .messages(c.id)
        .filter((m) => m.message_type === 'user-message' || m.message_type === 'agent-message');
      return sim.control.scenario(c.id) === 'active' && said.at(-1)?.message_type === 'user-message';
    });
    expect(waiting.length).toBeGreaterThan(0);

    // A threshold short enough that the listing alone decides nothing for them.
    const counts = await findStalls({ ...options, afterMs: 1 }, scanDeps);

    expect(counts.notConcluded).toBeGreaterThanOrEqual(waiting.length);
    const enqueued = new Set(jobs.jobs.map((j) => j.body.conversationId as string));
    for (const c of waiting) {
      expect(enqueued.has(c.id)).toBe(false);
      expect(messageReads.filter((id) => id === c.id)).toHaveLength(1);
    }

    // Nothing was said since: the next scan reads no message of theirs.
    await findStalls({ ...options, afterMs: 1 }, scanDeps);
    for (const c of waiting) expect(messageReads.filter((id) => id === c.id)).toHaveLength(1);
  });

  it('when a job cannot be enqueued, then it is counted and the next scan enqueues it', async () => {
    const { jobs, options, scanDeps, sim } = await setup();
    const first = expectedStalls(sim, options.afterMs).entries().next().value as [string, string];
    jobs.refuse.add(stallJobId(first[0], first[1]));

    const counts = await findStalls(options, scanDeps);
    expect(counts.failedToEnqueue).toBe(1);
    jobs.refuse.clear();
    jobs.take();

    await findStalls(options, scanDeps);
    expect(jobs.jobs.map((j) => j.body.conversationId)).toContain(first[0]);
  });

  it('when one conversation cannot be checked, then it is counted and every other one still is', async () => {
    const { sim, jobs, options, scanDeps } = await setup();
    const expected = expectedStalls(sim, options.afterMs);
    sim.control.enqueueFaults([{ operation: 'get-conversation-messages', kind: 'status', status: 404 }]);

    const counts = await findStalls(options, scanDeps);

    expect(counts.failed).toBe(1);
    expect(jobs.jobs.length).toBeGreaterThanOrEqual(expected.size - 1);
    expect(counts.enqueued + counts.failed).toBeGreaterThanOrEqual(expected.size);
  });
  it('when conversations are checked one at a time, then each job is sent before the next message read, not after the page', async () => {
    const { sim, jobs, options, scanDeps } = await setup();
    const expected = expectedStalls(sim, options.afterMs);
    // Per message read: the conversation, and the conversations whose jobs the queue had by then.
    const reads: Array<{ id: string; sent: string[] }> = [];
    const amigo: typeof scanDeps.amigo = {
      conversationPages: scanDeps.amigo.conversationPages,
      messages: (id, query, opts) => {
        reads.push({ id, sent: jobs.jobs.map((j) => j.body.conversationId as string) });
        return scanDeps.amigo.messages(id, query, opts);
      },
    };

    await findStalls({ ...options, pageSize: 150 }, { ...scanDeps, amigo, concurrency: 1 });

    expect(new Map(jobs.jobs.map((j) => [j.body.conversationId as string, j.body.interactionId]))).toEqual(
      expected,
    );
    reads.forEach((read, k) => {
      const stalledBefore = reads
        .slice(0, k)
        .map((r) => r.id)
        .filter((id) => expected.has(id));
      expect(read.sent, `jobs sent before message read ${k}`).toEqual(stalledBefore);
    });
    // One page: sent after the page, the last read would have seen no job at all.
    expect(reads.at(-1)?.sent.length).toBeGreaterThan(0);
  });

  it('when the queue is slow, then the jobs found meanwhile go together in sends of at most 10, each job once', async () => {
    // Enough stalled conversations that more than 10 wait behind the first send.
    const { sim, jobs, options, scanDeps, messageReads } = await setup({}, 100);
    const expected = expectedStalls(sim, options.afterMs);
    // Every conversation the listing cannot decide gets one message read (the archive is empty).
    const now = sim.control.now().getTime();
    const toRead = sim.control
      .conversations()
      .filter(
        (c) => !c.is_finished && c.num_messages > 0 && now - Date.parse(c.created_at) >= options.afterMs,
      );
    // The first send returns only once the last message read has started: by then every other
    // conversation was judged, so their jobs are waiting behind it.
    let opened = false;
    const sends: number[] = [];
    const slow: typeof jobs = Object.assign(Object.create(jobs), {
      send: async (batch: Parameters<typeof jobs.send>[0]) => {
        sends.push(batch.length);
        while (!opened && messageReads.length < toRead.length) await new Promise((r) => setTimeout(r, 5));
        opened = true;
        return jobs.send(batch);
      },
    });

    const counts = await findStalls(
      { ...options, pageSize: 150 },
      { ...scanDeps, jobs: slow, concurrency: 1 },
    );

    expect(expected.size).toBeGreaterThan(11);
    expect(sends[0]).toBe(1);
    expect(sends.length).toBeLessThan(expected.size);
    expect(Math.max(...sends)).toBe(10);
    expect(sends.reduce((a, b) => a + b, 0)).toBe(expected.size);
    expect(new Set(jobs.jobs.map((j) => j.id)).size).toBe(jobs.jobs.length);
    expect(new Map(jobs.jobs.map((j) => [j.body.conversationId as string, j.body.interactionId]))).toEqual(
      expected,
    );
    expect(counts.enqueued).toBe(expected.size);
    expect(counts.candidates).toBe(expected.size);
  });

  it('when the scan is aborted during a send, then it gives up only after that send, and sends nothing after', async () => {
    const { jobs, options, scanDeps } = await setup();
    const controller = new AbortController();
    let sends = 0;
    let inFlight = 0;
    const aborting: typeof jobs = Object.assign(Object.create(jobs), {
      send: async (batch: Parameters<typeof jobs.send>[0]) => {
        sends++;
        inFlight++;
        controller.abort();
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return jobs.send(batch);
      },
    });

    await expect(
      findStalls({ ...options, pageSize: 150 }, { ...scanDeps, jobs: aborting, signal: controller.signal }),
    ).rejects.toThrow();
    const whenGivenUp = { sends, inFlight };
    await new Promise((r) => setTimeout(r, 100));

    expect(whenGivenUp.sends).toBeGreaterThan(0);
    expect(whenGivenUp.inFlight).toBe(0);
    expect(sends).toBe(whenGivenUp.sends);
  });

  it('when sending throws, then the scan fails with that error and checks no further conversation', async () => {
    const { jobs, options, scanDeps, messageReads } = await setup();
    const broken = new Error('queue gone');
    let readsAtThrow = -1;
    const throwing: typeof jobs = Object.assign(Object.create(jobs), {
      send: async () => {
        readsAtThrow = messageReads.length;
        throw broken;
      },
    });

    await expect(
      findStalls({ ...options, pageSize: 150 }, { ...scanDeps, jobs: throwing, concurrency: 1 }),
    ).rejects.toBe(broken);

    expect(readsAtThrow).toBeGreaterThan(0);
    expect(messageReads).toHaveLength(readsAtThrow);
  });
});

/** `jobs`, except that its `nth` send throws (a queue that went away mid-scan). */
function throwingOnSend(jobs: MemoryQueue<StallJobMessage>, nth: number): MemoryQueue<StallJobMessage> {
  let sends = 0;
  return Object.assign(Object.create(jobs), {
    send: async (batch: Parameters<typeof jobs.send>[0]) => {
      if (++sends === nth) throw new Error('queue gone');
      return jobs.send(batch);
    },
  });
}

describe('a stall scan that fails part-way', () => {
  it('when the second send throws, then the counts handed in still hold the jobs the first one sent', async () => {
    // Arrange: one conversation checked at a time, so the first send goes before the second is built.
    const { jobs, options, scanDeps } = await setup();
    const failsSecond = throwingOnSend(jobs, 2);
    const counts = emptyStallCounts();

    // Act
    const scan = findStalls(options, { ...scanDeps, jobs: failsSecond, concurrency: 1 }, counts);

    // Assert
    await expect(scan).rejects.toThrow('queue gone');
    expect(jobs.jobs.length).toBeGreaterThan(0);
    expect(counts.enqueued).toBe(jobs.jobs.length);
    expect(counts.messageReads).toBeGreaterThan(0);
  });

  it('when the scheduler’s stall scan fails after sending some jobs, then its output names the failure and still counts what was sent', async () => {
    // Arrange
    const { jobs, options, scanDeps, store, amigo, clock } = await setup();
    const failsSecond = throwingOnSend(jobs, 2);

    // Act
    const output = await runScheduler(
      { kind: 'invoke', tasks: ['stalls'] },
      {
        amigo,
        store,
        jobs: new MemoryQueue<ArchiveJobMessage>(),
        continuation: new MemoryQueue<ContinueListingMessage>(),
        clock,
        options: { organizationId: options.organizationId, lookbackMs: 86_400_000 },
        stalls: { amigo: scanDeps.amigo, jobs: failsSecond, afterMs: options.afterMs },
        telemetry: silentTelemetry,
        remainingTimeMs: () => 900_000,
      },
    );

    // Assert
    expect(output.stallScanFailed?.message).toMatch(/queue gone/);
    expect(jobs.jobs.length).toBeGreaterThan(0);
    expect(output.stalls?.enqueued).toBe(jobs.jobs.length);
  });
});

describe('requestRecommendation', () => {
  it('when the sign-in before the request fails, then the claim is released and a redelivery asks', async () => {
    const { sim, jobs, options, scanDeps, requestDeps } = await setup();
    await findStalls(options, scanDeps);
    const [job] = jobs.take();
    const fresh = clientFor(sim, { maxAttempts: 2 });
    sim.control.enqueueFaults([
      { operation: 'sign-in-with-api-key', kind: 'status', status: 500 },
      { operation: 'sign-in-with-api-key', kind: 'status', status: 500 },
    ]);
    sim.control.resetStats();

    await expect(
      requestRecommendation(received(job?.body as StallJobMessage), { ...requestDeps, amigo: fresh }),
    ).rejects.toThrow();
    const retried = await requestRecommendation(received(job?.body as StallJobMessage), {
      ...requestDeps,
      amigo: fresh,
    });

    expect(retried.status).toBe('recommended');
    expect(recommendWrites(sim)).toHaveLength(1);
  });

  it('when every stalled interaction is requested, then each gets exactly one recommend call and a record at its key', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const queued = jobs.take();
    expect(queued.length).toBeGreaterThan(0);
    sim.control.resetStats();

    for (const job of queued) {
      const outcome = await requestRecommendation(received(job.body), requestDeps);
      expect(outcome.status).toBe('recommended');
    }

    const writes = recommendWrites(sim);
    expect(writes.map((w) => `${w.conversationId}/${w.interactionId}`).sort()).toEqual(
      queued.map((j) => `${j.body.conversationId}/${j.body.interactionId}`).sort(),
    );
    expect(writes.every((w) => w.status === 200)).toBe(true);
    for (const job of queued) {
      const body = job.body;
      const day = new Date(Date.parse(body.conversationCreatedAt)).toISOString().slice(0, 10);
      const key = `stalled/org=${sim.organizationId}/date=${day}/conversation=${body.conversationId}/interaction=${body.interactionId}.json`;
      expect(
        stallKey(sim.organizationId, body.conversationCreatedAt, body.conversationId, body.interactionId),
      ).toBe(key);
      const record = await readRecord(store, body);
      expect(record).toMatchObject({
        status: 'recommended',
        conversation_id: body.conversationId,
        interaction_id: body.interactionId,
        service_id: body.serviceId,
        num_messages: body.numMessages,
        last_agent_message: body.lastAgentMessage,
        context: null,
      });
      expect(record?.recommended_responses.length).toBeGreaterThan(0);
      expect(Date.parse(record?.requested_at as string)).toBeLessThanOrEqual(
        Date.parse(record?.answered_at as string),
      );
      expect(record?.tag).toBeUndefined();
    }
    expect(sim.control.stats().writes.filter((w) => w.operationId === MODIFY_TAGS)).toHaveLength(0);
  });

  it('when the scan runs again, then it enqueues nothing and reads no messages of conversations already requested', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, messageReads, store } = await setup();
    await findStalls(options, scanDeps);
    const queued = jobs.take();
    for (const job of queued) await requestRecommendation(received(job.body), requestDeps);
    messageReads.length = 0;
    sim.control.resetStats();

    const rerun = await findStalls(options, scanDeps);

    expect(jobs.jobs).toHaveLength(0);
    expect(rerun.enqueued).toBe(0);
    expect(rerun.alreadyRequested).toBe(queued.length);
    const requested = new Set(queued.map((j) => j.body.conversationId as string));
    expect(messageReads.filter((id) => requested.has(id))).toEqual([]);
    const messageCalls = sim.control
      .stats()
      .requests.filter((r) => r.operationId === 'get-conversation-messages');
    expect(messageCalls).toHaveLength(messageReads.length);
    expect(recommendWrites(sim)).toHaveLength(0);

    // Something was said since (num_messages differs from the record): one page is read, and the
    // newest interaction, already requested, is still not enqueued.
    const target = queued[0]?.body as StallJobMessage;
    const key = stallKey(
      target.organizationId,
      target.conversationCreatedAt,
      target.conversationId,
      target.interactionId,
    );
    const record = parseDocument(key, (await store.get(key))?.body as Buffer, StallRecordSchema);
    await store.put(key, JSON.stringify({ ...record, num_messages: record.num_messages - 1 }));
    messageReads.length = 0;

    const third = await findStalls(options, scanDeps);

    expect(messageReads.filter((id) => requested.has(id))).toEqual([target.conversationId]);
    expect(jobs.jobs).toHaveLength(0);
    expect(third.alreadyRequested).toBe(queued.length);
  });

  it('when the same job is delivered twice at once, then Amigo is asked once', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const job = received(jobs.take()[0]?.body as StallJobMessage);
    sim.control.resetStats();

    const outcomes = await Promise.all([
      requestRecommendation(job, requestDeps),
      requestRecommendation(job, requestDeps),
    ]);

    expect(outcomes.map((o) => o.status).sort()).toEqual(['already-requested', 'recommended']);
    expect(recommendWrites(sim)).toHaveLength(1);
    expect((await readRecord(store, job))?.status).toBe('recommended');

    // And later redeliveries, through the worker handler, ask nothing either.
    const worker = workerFor(requestDeps);
    const result = await worker.invoke([sqsRecord(job, 'm1'), sqsRecord(job, 'm2')]);
    expect(result.batchItemFailures).toEqual([]);
    expect(worker.deadLetters).toEqual([]);
    expect(recommendRequests(sim)).toBe(1);
  });

  it('when a job arrives through the worker handler, then it is asked once, and a malformed job is dead-lettered', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const queued = jobs.take().slice(0, 2);
    sim.control.resetStats();
    const worker = workerFor(requestDeps);

    const result = await worker.invoke([
      sqsRecord(queued[0]?.body, 'a'),
      sqsRecord(queued[1]?.body, 'b'),
      sqsRecord(queued[0]?.body, 'c'),
      sqsRecord({ kind: 'stall', v: 1 }, 'bad'),
    ]);

    expect(result.batchItemFailures).toEqual([]);
    expect(worker.deadLetters.map((d) => d.code)).toEqual(['InvalidJob']);
    expect(recommendWrites(sim)).toHaveLength(2);
    for (const job of queued) expect((await readRecord(store, job.body))?.status).toBe('recommended');
  });

  it('when the conversation finishes before the worker asks, then the 400 is recorded as rejected and never retried', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    // A short threshold makes conversations that are about to finish candidates.
    await findStalls({ ...options, afterMs: MINUTE }, scanDeps);
    const job = jobs.jobs.find((j) => sim.control.scenario(j.body.conversationId) === 'finishes-during-run');
    expect(job, 'a finishes-during-run conversation the agent answered a minute ago').toBeDefined();
    const body = received(job?.body as StallJobMessage);
    for (let i = 0; i < 30 && !sim.control.conversation(body.conversationId)?.is_finished; i++) {
      sim.control.advanceClock(MINUTE);
    }
    expect(sim.control.conversation(body.conversationId)?.is_finished).toBe(true);
    sim.control.resetStats();

    const worker = workerFor(requestDeps);
    const first = await worker.invoke([sqsRecord(body, 'first')]);

    expect(first.batchItemFailures).toEqual([]);
    expect(worker.deadLetters).toEqual([]);
    expect(worker.putBack.jobs).toEqual([]);
    const record = await readRecord(store, body);
    expect(record).toMatchObject({
      status: 'rejected',
      recommended_responses: [],
      rejection: { status: 400 },
    });
    expect(record?.rejection?.detail).toContain('finished');
    expect(record?.answered_at).not.toBeNull();
    expect(recommendWrites(sim).map((w) => w.status)).toEqual([400]);

    expect((await requestRecommendation(body, requestDeps)).status).toBe('already-requested');
    await worker.invoke([sqsRecord(body, 'again')]);
    expect(recommendRequests(sim)).toBe(1);
  });

  it('when the user answered meanwhile (Amigo answers 400), then it is rejected, and a redelivery makes no call', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const body = received(jobs.take()[0]?.body as StallJobMessage);
    sim.control.resetStats();
    sim.control.enqueueFaults([{ operation: RECOMMEND, kind: 'status', status: 400 }]);

    const outcome = await requestRecommendation(body, requestDeps);

    expect(outcome.status).toBe('rejected');
    expect((await readRecord(store, body))?.status).toBe('rejected');
    expect((await requestRecommendation(body, requestDeps)).status).toBe('already-requested');
    expect(recommendRequests(sim)).toBe(1);
    await findStalls(options, scanDeps);
    expect(jobs.jobs.map((j) => j.body.conversationId)).not.toContain(body.conversationId);
  });

  it('when the outcome of the call is unknown (500), then the claim stays and the interaction is never asked again', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const body = received(jobs.take()[0]?.body as StallJobMessage);
    sim.control.resetStats();
    sim.control.enqueueFaults([{ operation: RECOMMEND, kind: 'status', status: 500 }]);

    await expect(requestRecommendation(body, requestDeps)).rejects.toBeInstanceOf(AmigoUnavailableError);

    const record = await readRecord(store, body);
    expect(record?.status).toBe('requested');
    expect(record?.error?.code).toBe('AmigoUnavailableError');
    expect((await requestRecommendation(body, requestDeps)).status).toBe('already-requested');
    expect(recommendRequests(sim)).toBe(1);
  });

  it('when Amigo certainly did not act (503 after retries), then the claim is released and a later delivery asks', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup({
      maxAttempts: 2,
      maxThrottledAttempts: 2,
    });
    await findStalls(options, scanDeps);
    const body = received(jobs.take()[0]?.body as StallJobMessage);
    sim.control.setFaults({ operations: [RECOMMEND], statusRates: { 503: 1 } });

    await expect(requestRecommendation(body, requestDeps)).rejects.toMatchObject({ status: 503 });
    expect(await readRecord(store, body)).toBeUndefined();

    sim.control.setFaults({});
    sim.control.resetStats();
    expect((await requestRecommendation(body, requestDeps)).status).toBe('recommended');
    expect(recommendWrites(sim)).toHaveLength(1);
  });

  it("when a service has a context, then it is sent for that service's conversations and the default for the others", async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const queued = jobs.take().map((j) => received(j.body));
    const services = [...new Set(queued.map((j) => j.serviceId))];
    expect(services.length).toBeGreaterThan(1);
    const chosen = services[0] as string;
    const contexts = { [chosen]: 'A patient follow-up line: keep replies short and kind.' };
    sim.control.resetStats();

    for (const job of queued) await requestRecommendation(job, { ...requestDeps, contexts });

    const writes = recommendWrites(sim);
    expect(writes).toHaveLength(queued.length);
    for (const job of queued) {
      const write = writes.find((w) => w.interactionId === job.interactionId);
      const sent = (write?.body as { context?: string } | null)?.context;
      const record = await readRecord(store, job);
      if (job.serviceId === chosen) {
        expect(sent).toBe(contexts[chosen]);
        expect(record?.context).toBe(contexts[chosen]);
      } else {
        expect(sent).toBeUndefined();
        expect(record?.context).toBeNull();
      }
    }
  });

  it('when a stall tag is configured, then it is written where it fits and skipped (and said) where it does not', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup();
    await findStalls(options, scanDeps);
    const queued = jobs.take().map((j) => received(j.body));
    const tag = { key: 'stalled', value: 'yes' };
    const full = queued.filter((j) => (j.tagKeys?.length ?? 0) >= 20);
    expect(full.length).toBeGreaterThan(0); // the simulated organisation has a stalled conversation with 20 tags
    const unknown = queued.find((j) => (j.tagKeys?.length ?? 0) < 20) as StallJobMessage;
    sim.control.resetStats();

    for (const job of queued) {
      const sent = job === unknown ? { ...job, tagKeys: null } : job;
      await requestRecommendation(sent, { ...requestDeps, tag });
    }

    const tagWrites = sim.control.stats().writes.filter((w) => w.operationId === MODIFY_TAGS);
    expect(tagWrites).toHaveLength(queued.length - full.length - 1);
    expect(tagWrites.every((w) => w.status === 204)).toBe(true);
    for (const job of queued) {
      const record = await readRecord(store, job);
      const live = sim.control.conversation(job.conversationId)?.tags ?? {};
      if (job === unknown || full.includes(job)) {
        expect(record?.tag?.status).toBe('skipped');
        expect(record?.tag?.reason).toMatch(job === unknown ? /unknown/ : /20/);
        expect(live.stalled).toBeUndefined();
      } else {
        expect(record?.tag).toEqual({ key: 'stalled', value: 'yes', status: 'applied' });
        expect(live.stalled).toBe('yes');
      }
    }
  });

  it('when the tag write fails after the recommendation, then a redelivery finishes the tag without asking again', async () => {
    const { sim, jobs, options, scanDeps, requestDeps, store } = await setup({ maxAttempts: 1 });
    await findStalls(options, scanDeps);
    const job = jobs
      .take()
      .map((j) => received(j.body))
      .find((j) => (j.tagKeys?.length ?? 0) < 20) as StallJobMessage;
    const tag = { key: 'stalled', value: 'yes' };
    sim.control.resetStats();
    sim.control.enqueueFaults([{ operation: MODIFY_TAGS, kind: 'status', status: 500 }]);

    await expect(requestRecommendation(job, { ...requestDeps, tag })).rejects.toBeInstanceOf(
      AmigoUnavailableError,
    );
    expect((await readRecord(store, job))?.tag?.status).toBe('pending');

    const again = await requestRecommendation(job, { ...requestDeps, tag });

    expect(again.status).toBe('already-requested');
    expect((await readRecord(store, job))?.tag?.status).toBe('applied');
    expect(sim.control.conversation(job.conversationId)?.tags.stalled).toBe('yes');
    expect(recommendWrites(sim)).toHaveLength(1);
  });
});
