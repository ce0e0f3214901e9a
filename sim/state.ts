// Everything the simulator knows at run time: options resolved to values, the clock, the data, live
// tag changes, the rate limiter, faults and the statistics.
import { type OperationId, operations } from '../shared/openapi/index.ts';
import { arrivalCount } from './arrivals.ts';
import { Signer } from './auth.ts';
import { type ConversationHeader, Dataset } from './dataset.ts';
import { FaultEngine } from './faults.ts';
import { SlidingWindowLog } from './rate-limiter.ts';
import type { SimCredential, SimStats, SimulatorOptions } from './types.ts';

export const DEFAULT_CREDENTIAL: SimCredential = {
  apiKey: 'sim-key-secret-000000',
  apiKeyId: 'sim-key-id',
  userId: 'sim-user',
};

const LONG_LIVED_URL_MS = 12 * 3_600_000;
/** Stats keep at most this many request and write records (the newest). */
const MAX_RECORDS = 100_000;

export class SimClock {
  readonly startMs: number;
  private readonly realStart = performance.now();
  private offsetMs = 0;

  constructor(startMs: number) {
    this.startMs = startMs;
  }

  nowMs(): number {
    return Math.floor(this.startMs + (performance.now() - this.realStart) + this.offsetMs);
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`advanceClock needs a non-negative number, got ${ms}`);
    this.offsetMs += ms;
  }

  offset(): number {
    return this.offsetMs;
  }
}

export interface ResolvedOptions {
  seed: number;
  organizationId: string;
  credentials: SimCredential[];
  tokenTtlMs: number;
  signedUrlTtlMs: number;
  longLivedUrlTtlMs: number;
  rateLimitsEnabled: boolean;
  limits: Record<OperationId, { limit: number; windowMs: number }>;
  validateResponses: boolean;
  host: string;
  port: number;
}

export type Tags = Record<string, string | null>;

export class SimState {
  readonly options: ResolvedOptions;
  readonly clock: SimClock;
  readonly dataset: Dataset;
  readonly signer = new Signer();
  readonly limiter = new SlidingWindowLog();
  readonly faults: FaultEngine;
  readonly liveTags = new Map<string, Tags>();
  /** Signatures of audio URLs expired early by a fault (`audio-fail` with `expireUrl`). */
  readonly expiredUrls = new Set<string>();
  stats: SimStats = emptyStats();

  constructor(input: SimulatorOptions = {}) {
    const seed = input.seed ?? 1;
    const startMs = input.now === undefined ? Date.now() : new Date(input.now).getTime();
    if (!Number.isFinite(startMs)) throw new RangeError(`Invalid simulator start time: ${String(input.now)}`);
    const scale = input.rateLimits?.scale ?? 1;
    if (!(scale > 0)) throw new RangeError(`rateLimits.scale must be positive, got ${scale}`);
    const limits = {} as ResolvedOptions['limits'];
    for (const op of Object.values(operations)) {
      limits[op.operationId] = input.rateLimits?.overrides?.[op.operationId] ?? {
        limit: op.publishedLimit.limit,
        windowMs: op.publishedLimit.windowMs / scale,
      };
    }
    const credentials = input.credentials?.length
      ? input.credentials.map((c) => ({ ...c }))
      : [{ ...DEFAULT_CREDENTIAL }];
    this.options = {
      seed,
      organizationId: input.organizationId ?? 'sim-org',
      credentials,
      tokenTtlMs: input.tokenTtlMs ?? 3_600_000,
      signedUrlTtlMs: input.signedUrlTtlMs ?? 60_000,
      longLivedUrlTtlMs: LONG_LIVED_URL_MS,
      rateLimitsEnabled: input.rateLimits?.enabled ?? true,
      limits,
      validateResponses: input.validateResponses ?? true,
      host: input.host ?? '127.0.0.1',
      port: input.port ?? 0,
    };
    this.clock = new SimClock(startMs);
    this.dataset = new Dataset({
      seed,
      conversations: input.arrivals ? arrivalCount(input.arrivals) : (input.conversations ?? 40),
      startMs,
      largeRecordings: input.audio?.largeRecordings ?? 1,
      largeRecordingBytes: input.audio?.largeRecordingBytes ?? 300 * 1024 * 1024,
      longConversations: Math.max(
        0,
        Math.min(2, input.longConversations ?? ((input.conversations ?? 40) >= 10 ? 2 : 0)),
      ),
      ...(input.longConversationInteractions ? { longInteractions: input.longConversationInteractions } : {}),
      ...(input.arrivals ? { arrivals: input.arrivals } : {}),
    });
    this.faults = new FaultEngine(seed, input.faults ?? {});
  }

  now(): number {
    return this.clock.nowMs();
  }

  tagsOf(h: ConversationHeader): Tags {
    return this.liveTags.get(h.id) ?? h.tags;
  }

  record(entry: SimStats['requests'][number]): void {
    const byStatus = this.stats.calls[entry.operationId] ?? {};
    this.stats.calls[entry.operationId] = byStatus;
    byStatus[String(entry.status)] = (byStatus[String(entry.status)] ?? 0) + 1;
    this.stats.requests.push(entry);
    if (this.stats.requests.length > MAX_RECORDS)
      this.stats.requests.splice(0, this.stats.requests.length - MAX_RECORDS);
  }

  recordWrite(entry: SimStats['writes'][number]): void {
    this.stats.writes.push(entry);
    if (this.stats.writes.length > MAX_RECORDS)
      this.stats.writes.splice(0, this.stats.writes.length - MAX_RECORDS);
  }

  resetStats(): void {
    this.stats = emptyStats();
  }
}

function emptyStats(): SimStats {
  return { calls: {}, requests: [], writes: [], violations: [], tokensIssued: 0 };
}
