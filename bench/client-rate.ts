// Benchmark: how much of each operation's rate limit the client uses, and how many 429s it draws.
//
//   npm run bench:client-rate [-- --windows 20 --window-ms 2000 --workers 8 --latency 5,40]
//
// The simulator enforces each operation's published limit per window (a sliding-window log, the
// strictest common server behaviour) with the window shortened to --window-ms, and adds random
// latency. The client is configured with the same limits. Every operation is driven at once by
// --workers concurrent callers for --windows windows. Efficiency = successful calls the simulator
// received within the measured span / (limit x windows). The same run is repeated with client-side
// limiting off (a client that only retries on 429) for comparison. Steady = the long-run rate after
// the first window's burst: (ok calls - limit) / (last ok - first ok), as a share of limit/window.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AmigoClient, resolveAmigoConfig } from '../shared/amigo/index.ts';
import { type OperationId, operations } from '../shared/openapi/index.ts';
import { type RunningSimulator, startSimulator } from '../sim/index.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';

const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '20' },
    'window-ms': { type: 'string', default: '2000' },
    workers: { type: 'string', default: '8' },
    latency: { type: 'string', default: '5,40' },
    out: { type: 'string', default: 'bench/results/client-rate.json' },
  },
});
const windows = Number(values.windows);
const windowMs = Number(values['window-ms']);
const workers = Number(values.workers);
const [latMin, latMax] = String(values.latency).split(',').map(Number) as [number, number];

const DRIVEN: OperationId[] = [
  'get-conversations',
  'get-conversation-messages',
  'retrieve-message-source',
  'get-interaction-insights',
  'modify-tags-of-conversation',
  'recommend-responses-for-interaction',
];

interface OperationResult {
  operationId: OperationId;
  limit: string;
  callsInSpan: number;
  budgetInSpan: number;
  efficiency: number;
  steady: number;
  total: number;
  throttled: number;
  throttledShare: number;
}

async function run(label: string, clientLimited: boolean): Promise<OperationResult[]> {
  const limits = Object.fromEntries(
    DRIVEN.map((id) => [id, { limit: operations[id].publishedLimit.limit, windowMs }]),
  ) as Record<OperationId, { limit: number; windowMs: number }>;
  const sim: RunningSimulator = await startSimulator({
    seed: 11,
    conversations: 60,
    audio: { largeRecordings: 0 },
    rateLimits: { enabled: true, overrides: limits },
    faults: { latencyMs: [latMin, latMax] },
    validateResponses: false,
  });
  const c = sim.control;
  const config = resolveAmigoConfig({
    ...simulatorSignIn(sim),
    maxThrottledAttempts: 100,
    rateLimits: Object.fromEntries(
      DRIVEN.map((id) => [id, clientLimited ? limits[id] : { limit: 100_000, windowMs: 1_000 }]),
    ),
  });
  const client = new AmigoClient(config);
  await client.warmUp();

  const conversations = c.conversations();
  const withAgent = conversations.flatMap((conv) => {
    const m = c.messages(conv.id).find((x) => x.message_type === 'agent-message');
    return m ? [{ id: conv.id, interaction: m.interaction_id }] : [];
  });
  const voice = conversations.flatMap((conv) =>
    c
      .messages(conv.id)
      .filter((m) => m.format === 'voice')
      .map((m) => ({ id: conv.id, message: m.id })),
  );
  const stalled = conversations
    .filter((conv) => c.scenario(conv.id) === 'stalled')
    .map((conv) => ({ id: conv.id, interaction: c.messages(conv.id).at(-1)?.interaction_id as string }));
  const taggable = conversations.filter((conv) => Object.keys(conv.tags).length < 19);

  const calls: Record<OperationId, (i: number) => Promise<unknown>> = {
    'get-conversations': () => client.conversationPages({ limit: 5 }).next(),
    'get-conversation-messages': (i) =>
      client.messagePages(conversations[i % conversations.length]?.id as string, { limit: 20 }).next(),
    'retrieve-message-source': (i) => {
      const v = voice[i % voice.length] as { id: string; message: string };
      return client.getMessageSourceUrl(v.id, v.message);
    },
    'get-interaction-insights': (i) => {
      const w = withAgent[i % withAgent.length] as { id: string; interaction: string };
      return client.getInteractionInsights(w.id, w.interaction);
    },
    'modify-tags-of-conversation': (i) =>
      client.modifyTags(taggable[i % taggable.length]?.id as string, {
        updates: { bench: 'yes' },
        deletes: [],
      }),
    'recommend-responses-for-interaction': (i) => {
      const s = stalled[i % stalled.length] as { id: string; interaction: string };
      return client.recommendResponses(s.id, s.interaction);
    },
    'sign-in-with-api-key': async () => undefined,
  };

  c.resetStats();
  const start = Date.now();
  const end = start + windows * windowMs;
  await Promise.all(
    DRIVEN.flatMap((op) =>
      Array.from({ length: workers }, async (_, w) => {
        let i = w;
        while (Date.now() < end) {
          await calls[op](i);
          i += workers;
        }
      }),
    ),
  );
  const stats = c.stats();
  await sim.stop();

  const results = DRIVEN.map((op) => {
    const reqs = stats.requests.filter((r) => r.operationId === op);
    const okTimes = reqs
      .filter((r) => r.status >= 200 && r.status < 300 && r.at >= start && r.at < end)
      .map((r) => r.at)
      .sort((a, b) => a - b);
    const ok = okTimes.length;
    const span = (okTimes.at(-1) ?? 0) - (okTimes[0] ?? 0);
    const steady = span > 0 ? ((ok - limits[op].limit) / span) * (windowMs / limits[op].limit) : 0;
    const throttled = reqs.filter((r) => r.status === 429).length;
    const budget = limits[op].limit * windows;
    return {
      operationId: op,
      limit: `${limits[op].limit}/${windowMs}ms`,
      callsInSpan: ok,
      budgetInSpan: budget,
      efficiency: ok / budget,
      steady,
      total: reqs.length,
      throttled,
      throttledShare: reqs.length ? throttled / reqs.length : 0,
    };
  });
  console.log(`\n${label}`);
  console.table(
    results.map((r) => ({
      operation: r.operationId,
      limit: r.limit,
      'ok calls in span': r.callsInSpan,
      budget: r.budgetInSpan,
      'efficiency %': (r.efficiency * 100).toFixed(1),
      'steady %': (r.steady * 100).toFixed(1),
      '429s': r.throttled,
      '429 share %': (r.throttledShare * 100).toFixed(2),
    })),
  );
  return results;
}

const limited = await run('amigo-qa client (sliding-window budget at the server limits)', true);
const naive = await run('same client with client-side limiting off (retries on 429 only)', false);
const pass = limited.every((r) => Math.min(r.efficiency, r.steady) >= 0.95 && r.throttledShare < 0.01);
writeFileSync(
  String(values.out),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      windows,
      windowMs,
      workers,
      latencyMs: [latMin, latMax],
      limited,
      naive,
      pass,
    },
    null,
    2,
  )}\n`,
);
console.log(
  `\n${pass ? 'PASS' : 'FAIL'}: every operation >= 95% of its limit with < 1% of calls answered 429 (written to ${values.out})`,
);
process.exitCode = pass ? 0 : 1;
