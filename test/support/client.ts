// A client wired to a running simulator, with retry delays short enough for tests.
import {
  AmigoClient,
  type AmigoClientConfigInput,
  type AmigoClientDeps,
  resolveAmigoConfig,
} from '../../shared/amigo/index.ts';
import { operationIds, operations } from '../../shared/openapi/index.ts';
import type { RunningSimulator } from '../../sim/index.ts';
import { simulatorSignIn } from './sim-credentials.ts';

/** Client-side limits far above anything a test reaches, for tests not about rate limiting. */
export const UNLIMITED = Object.fromEntries(operationIds.map((id) => [id, '10000/s']));

/** The client configuration that signs in to `sim` (short retry delays; `overrides` win). */
export function amigoConfigFor(sim: RunningSimulator, overrides: Partial<AmigoClientConfigInput> = {}) {
  return resolveAmigoConfig({
    ...simulatorSignIn(sim),
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 50,
    timeoutMs: 5_000,
    rateLimits: UNLIMITED,
    ...overrides,
  });
}

export function clientFor(
  sim: RunningSimulator,
  overrides: Partial<AmigoClientConfigInput> = {},
  deps: AmigoClientDeps = {},
): AmigoClient {
  return new AmigoClient(amigoConfigFor(sim, overrides), deps);
}

/** Each operation's published limit per `windowMs` instead of per minute (the simulator's `scale`). */
export function scaledLimits(windowMs: number): Record<string, string> {
  return Object.fromEntries(
    operationIds.map((id) => [id, `${operations[id].publishedLimit.limit}/${windowMs}ms`]),
  );
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
