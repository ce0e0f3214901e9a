// Efficiency on the week's data: a backlog of the week's conversations (same shape: `interactions`
// each, `voiceShare` voice), all finished at the start, drained by one local cycle with our client
// and then by a naive client on the same data. The week itself is not budget-bound all day (the
// budget is ~60% used on average), so efficiency is measured where it matters: while a backlog waits.
//   efficiency = bottleneck operation's calls x window / limit  /  the cycle's wall time
// The naive client has its client-side limits off and the X-RateLimit-* headers hidden from it (as
// in bench/archive-run.ts), so it only follows 429s and their Retry-After.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalCycle } from '../local/pipeline.ts';
import { resolveAmigoConfig } from '../shared/amigo/config.ts';
import { defaultPipelineConfig } from '../shared/config/pipeline-config.ts';
import { type OperationId, operationIds, operations } from '../shared/openapi/index.ts';
import { startSimulator } from '../sim/index.ts';
import { simulatorSignIn } from '../test/support/sim-credentials.ts';

export interface EfficiencyOptions {
  readonly seed: number;
  readonly conversations: number;
  readonly interactions: number;
  readonly voiceShare: number;
  /** Divides every published window (60: 20 a minute becomes 20 a second). */
  readonly rateScale: number;
  readonly latencyMs: readonly [number, number];
}

export interface EfficiencyRun {
  client: 'shared-budget' | 'naive';
  seconds: number;
  archived: number;
  failed: number;
  deadLetters: number;
  bottleneck: OperationId;
  bottleneckBoundSeconds: number;
  efficiency: number;
  requests: number;
  throttled: number;
  throttledShare: number;
  calls: Record<string, { answered: number; throttled: number }>;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function runEfficiency(
  options: EfficiencyOptions,
  client: 'shared-budget' | 'naive',
): Promise<EfficiencyRun> {
  const windowMs = (id: OperationId) =>
    Math.round(operations[id].publishedLimit.windowMs / options.rateScale);
  const sim = await startSimulator({
    seed: options.seed,
    // Every conversation finishes within the first millisecond: a backlog of them.
    arrivals: {
      days: 1,
      perDay: options.conversations,
      dayMs: 1,
      interactions: options.interactions,
      voiceShare: options.voiceShare,
    },
    rateLimits: {
      enabled: true,
      overrides: Object.fromEntries(
        operationIds.map((id) => [
          id,
          { limit: operations[id].publishedLimit.limit, windowMs: windowMs(id) },
        ]),
      ),
    },
    faults: { latencyMs: [...options.latencyMs] as [number, number] },
    validateResponses: false,
  });
  const archive = await mkdtemp(join(tmpdir(), `amigo-qa-week-efficiency-${client}-`));
  const realFetch = globalThis.fetch;
  try {
    const limits = Object.fromEntries(
      operationIds.map((id) => [
        id,
        client === 'naive'
          ? '100000/s'
          : { limit: operations[id].publishedLimit.limit, windowMs: windowMs(id) },
      ]),
    );
    const amigo = resolveAmigoConfig({ ...simulatorSignIn(sim), rateLimits: limits });
    // Analysis follows the finish by a second of sim time.
    await new Promise((r) => setTimeout(r, 1_500));
    sim.control.resetStats();
    if (client === 'naive') globalThis.fetch = withoutRateLimitHeaders(realFetch, sim.url);
    const result = await runLocalCycle({
      config: defaultPipelineConfig(),
      amigo,
      archive,
      deferralSeconds: [300 / options.rateScale, 900 / options.rateScale],
    }).finally(() => {
      globalThis.fetch = realFetch;
    });
    const calls: EfficiencyRun['calls'] = {};
    let requests = 0;
    let throttled = 0;
    let bottleneck: OperationId = 'get-interaction-insights';
    let bound = 0;
    for (const [op, statuses] of Object.entries(sim.control.stats().calls)) {
      if (op === 'audio') continue;
      const t = statuses['429'] ?? 0;
      const answered = Object.entries(statuses)
        .filter(([s]) => s !== '429' && s !== '0')
        .reduce((sum, [, n]) => sum + n, 0);
      calls[op] = { answered, throttled: t };
      requests += answered + t;
      throttled += t;
      const id = op as OperationId;
      const b = (answered * windowMs(id)) / operations[id].publishedLimit.limit / 1000;
      if (b > bound) {
        bound = b;
        bottleneck = id;
      }
    }
    return {
      client,
      seconds: round(result.seconds, 2),
      archived: result.record.archive?.archived ?? 0,
      failed: result.record.archive?.failed ?? 0,
      deadLetters: result.deadLetters.length,
      bottleneck,
      bottleneckBoundSeconds: round(bound, 2),
      efficiency: round(bound / result.seconds),
      requests,
      throttled,
      throttledShare: round(requests ? throttled / requests : 0, 4),
      calls,
    };
  } finally {
    await sim.stop();
    await rm(archive, { recursive: true, force: true });
  }
}

/** fetch, with the X-RateLimit-* headers removed from the simulator's responses (Retry-After kept). */
function withoutRateLimitHeaders(inner: typeof fetch, baseUrl: string): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(baseUrl) || !response.headers.has('x-ratelimit-limit')) return response;
    const headers = new Headers(response.headers);
    for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
      headers.delete(name);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}
