// A client wired to a running simulator, with retry delays short enough for tests.
import {
  AmigoClient,
  type AmigoClientConfigInput,
  type AmigoClientDeps,
  resolveAmigoConfig,
} from '../../shared/amigo/index.ts';
import { operationIds } from '../../shared/openapi/index.ts';
import type { RunningSimulator } from '../../sim/index.ts';

/** Client-side limits far above anything a test reaches, for tests not about rate limiting. */
export const UNLIMITED = Object.fromEntries(operationIds.map((id) => [id, '10000/s']));

export function clientFor(
  sim: RunningSimulator,
  overrides: Partial<AmigoClientConfigInput> = {},
  deps: AmigoClientDeps = {},
): AmigoClient {
  const config = resolveAmigoConfig({
    baseUrl: sim.url,
    organizationId: sim.organizationId,
    apiKey: sim.credentials.apiKey,
    apiKeyId: sim.credentials.apiKeyId,
    userId: sim.credentials.userId,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 50,
    timeoutMs: 5_000,
    rateLimits: UNLIMITED,
    ...overrides,
  });
  return new AmigoClient(config, deps);
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
