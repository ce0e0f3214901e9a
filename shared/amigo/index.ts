import { AmigoClient, type AmigoClientDeps } from './client.ts';
import { type AmigoClientConfigInput, amigoConfigFromEnv, resolveAmigoConfig } from './config.ts';

export type { RateBudget, RateFeedback } from '../ports/rate-budget.ts';
export { extractSignedUrl } from './audio.ts';
export * from './client.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './rate-limit.ts';

/**
 * A client from a configuration object (validated) or, without one, from the `AMIGO_*` environment variables.
 *
 * @example
 * ```ts
 * import { createAmigoClient } from './shared/amigo/index.ts';
 *
 * // From AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID (and AMIGO_BASE_URL):
 * const amigo = createAmigoClient();
 * // Or from settings, validated like the config file's `amigo:` section:
 * const limited = createAmigoClient({
 *   apiKey, apiKeyId, userId, organizationId,
 *   rateLimits: { 'get-conversations': '20/min' },
 * });
 * const insights = await limited.getInteractionInsights(conversationId, interactionId);
 * ```
 */
export function createAmigoClient(config?: AmigoClientConfigInput, deps: AmigoClientDeps = {}): AmigoClient {
  return new AmigoClient(config === undefined ? amigoConfigFromEnv() : resolveAmigoConfig(config), deps);
}
