// Fault injection: one-shot scripted faults (consumed in order by the next matching request) and
// rate-based faults drawn from their own seeded PRNG, scoped to operations, plus maintenance windows.
import { createRng, type Rng } from './prng.ts';
import type { FaultConfig, FaultTarget, ScriptedFault } from './types.ts';

export type ActiveFault =
  | {
      kind: 'status';
      status: number;
      retryAfterSeconds: number | undefined;
      retryAfterAs?: 'seconds' | 'http-date';
    }
  | { kind: 'truncate' }
  | { kind: 'malformed' }
  | { kind: 'reset' }
  /** The audio stream dies after `afterBytes`, or after `fraction` of the body when no count was given. */
  | { kind: 'audio-fail'; afterBytes: number | undefined; fraction: number; expireUrl?: boolean };

export interface FaultPlan {
  delayMs: number;
  fault: ActiveFault | undefined;
  /** What to record in stats (`status:503`, `maintenance`, `truncate`, `delay`...), when anything happened. */
  label: string | undefined;
}

function toMs(value: string | Date): number {
  return value instanceof Date ? value.getTime() : Date.parse(value);
}

export class FaultEngine {
  private config: FaultConfig;
  private readonly queue: ScriptedFault[] = [];
  private readonly rng: Rng;

  constructor(seed: number, config: FaultConfig = {}) {
    this.config = config;
    this.rng = createRng(seed, 'faults');
  }

  setConfig(config: FaultConfig): void {
    this.config = { ...config };
  }

  enqueue(faults: ScriptedFault[]): void {
    this.queue.push(...faults.map((f) => ({ ...f })));
  }

  pending(): number {
    return this.queue.length;
  }

  private takeScripted(target: FaultTarget): ScriptedFault | undefined {
    const index = this.queue.findIndex((f) => {
      if (f.kind === 'audio-fail' && target !== 'audio') return false;
      return f.operation === undefined || f.operation === target;
    });
    if (index < 0) return undefined;
    return this.queue.splice(index, 1)[0];
  }

  decide(target: FaultTarget, simNowMs: number): FaultPlan {
    const inScope = !this.config.operations || this.config.operations.includes(target);
    const latency = inScope ? this.latency() : 0;
    const scripted = this.takeScripted(target);
    if (scripted) return this.fromScripted(scripted, latency);
    if (!inScope) return { delayMs: 0, fault: undefined, label: undefined };
    for (const window of this.config.maintenance ?? []) {
      const from = toMs(window.from);
      const to = toMs(window.to);
      if (simNowMs >= from && simNowMs < to) {
        return {
          delayMs: latency,
          fault: {
            kind: 'status',
            status: 503,
            retryAfterSeconds: Math.max(1, Math.ceil((to - simNowMs) / 1000)),
          },
          label: 'maintenance',
        };
      }
    }
    const r = this.rng.next();
    let edge = 0;
    const statuses = Object.entries(this.config.statusRates ?? {})
      .map(([s, p]) => [Number(s), p ?? 0] as const)
      .sort((a, b) => a[0] - b[0]);
    for (const [status, p] of statuses) {
      edge += p;
      if (r < edge) {
        const retryAfterSeconds = status === 503 || status === 429 ? this.rng.int(1, 3) : undefined;
        return {
          delayMs: latency,
          fault: { kind: 'status', status, retryAfterSeconds },
          label: `status:${status}`,
        };
      }
    }
    const others: Array<[number | undefined, ActiveFault, string]> = [
      [this.config.resetRate, { kind: 'reset' }, 'reset'],
      [this.config.truncateRate, { kind: 'truncate' }, 'truncate'],
      [this.config.malformedRate, { kind: 'malformed' }, 'malformed'],
    ];
    if (target === 'audio') {
      others.push([
        this.config.audioFailRate,
        { kind: 'audio-fail', afterBytes: undefined, fraction: this.rng.float(0.05, 0.95) },
        'audio-fail',
      ]);
    }
    for (const [p, fault, label] of others) {
      edge += p ?? 0;
      if (r < edge) return { delayMs: latency, fault, label };
    }
    return { delayMs: latency, fault: undefined, label: undefined };
  }

  private latency(): number {
    const l = this.config.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return Math.max(0, l);
    return Math.max(0, this.rng.int(Math.min(l[0], l[1]), Math.max(l[0], l[1])));
  }

  private fromScripted(f: ScriptedFault, latency: number): FaultPlan {
    switch (f.kind) {
      case 'delay':
        return { delayMs: latency + Math.max(0, f.ms), fault: undefined, label: 'delay' };
      case 'status':
        return {
          delayMs: latency,
          fault: {
            kind: 'status',
            status: f.status,
            retryAfterSeconds: f.retryAfterSeconds,
            ...(f.retryAfterAs ? { retryAfterAs: f.retryAfterAs } : {}),
          },
          label: `status:${f.status}`,
        };
      case 'audio-fail':
        return {
          delayMs: latency,
          fault: {
            kind: 'audio-fail',
            afterBytes: f.afterBytes,
            fraction: 0.5,
            ...(f.expireUrl ? { expireUrl: true } : {}),
          },
          label: f.expireUrl ? 'audio-fail+expire' : 'audio-fail',
        };
      default:
        return { delayMs: latency, fault: { kind: f.kind }, label: f.kind };
    }
  }
}
