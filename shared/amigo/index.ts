import { AmigoClient, type AmigoClientDeps } from './client.ts';
import { type AmigoClientConfigInput, amigoConfigFromEnv, resolveAmigoConfig } from './config.ts';

export type { RateBudget, RateFeedback } from '../ports/rate-budget.ts';
export { extractSignedUrl } from './audio.ts';
export * from './client.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './rate-limit.ts';

/** A client from a configuration object (validated) or, without one, from the `AMIGO_*` environment variables. */
export function createAmigoClient(config?: AmigoClientConfigInput, deps: AmigoClientDeps = {}): AmigoClient {
  return new AmigoClient(config === undefined ? amigoConfigFromEnv() : resolveAmigoConfig(config), deps);
}
