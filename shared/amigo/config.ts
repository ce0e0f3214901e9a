// Amigo client configuration: from the same environment variables as the official SDKs, or from an
// object. Validated once; a bad value fails naming the variable or field and the fix.
import * as z from 'zod';
import { ConfigurationError, registerSecret } from '../errors.ts';
import { type OrganizationId, OrganizationIdSchema } from '../ids.ts';
import type { OperationId, RateLimit } from '../openapi/index.ts';
import { resolveRateLimits } from './rate-limit.ts';

export const REGION_BASE_URLS = {
  'us-east-1': 'https://api.amigo.ai',
  'eu-central-1': 'https://api-eu-central-1.amigo.ai',
  'ap-southeast-2': 'https://api-ap-southeast-2.amigo.ai',
  'ca-central-1': 'https://api-ca-central-1.amigo.ai',
} as const;
export type AmigoRegion = keyof typeof REGION_BASE_URLS;

export interface AmigoClientConfig {
  readonly apiKey: string;
  readonly apiKeyId: string;
  readonly userId: string;
  readonly organizationId: OrganizationId;
  /** @default https://api.amigo.ai, or the URL of `region` */
  readonly baseUrl: string;
  /** Per-operation limits: the spec's published limits with overrides applied. */
  readonly rateLimits: Readonly<Record<OperationId, RateLimit>>;
  /** Time allowed for one HTTP attempt, body included. @default 30000 */
  readonly timeoutMs: number;
  /** Attempts per call for failures (5xx, network, timeouts, malformed bodies). @default 6 */
  readonly maxAttempts: number;
  /** Attempts per call answered 429 (each waits as the server says). @default 12 */
  readonly maxThrottledAttempts: number;
  /** First backoff step; later steps double, with full jitter. @default 250 */
  readonly retryBaseDelayMs: number;
  /** Cap of one backoff step. @default 20000 */
  readonly retryMaxDelayMs: number;
  /** Sign in again this long before the token's `expires_at`. @default 60000 */
  readonly tokenRefreshSkewMs: number;
  /** Fresh signed URLs after a download fails part-way or its URL expires. @default 3 */
  readonly maxDownloadResumes: number;
}

export interface AmigoClientConfigInput {
  apiKey: string;
  apiKeyId: string;
  userId: string;
  organizationId: string;
  baseUrl?: string | undefined;
  region?: AmigoRegion | undefined;
  /** e.g. `{ "get-conversations": "20/min", "retrieve-message-source": "4/s" }` */
  rateLimits?: Record<string, string | RateLimit> | undefined;
  timeoutMs?: number | undefined;
  maxAttempts?: number | undefined;
  maxThrottledAttempts?: number | undefined;
  retryBaseDelayMs?: number | undefined;
  retryMaxDelayMs?: number | undefined;
  tokenRefreshSkewMs?: number | undefined;
  maxDownloadResumes?: number | undefined;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True when `url` names this machine (plain http is allowed there: the simulator). */
export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

const BASE_URL_EXAMPLE = `${REGION_BASE_URLS['eu-central-1']}`;

/**
 * What is wrong with a base URL, and its fix; undefined when it is usable. The messages never
 * repeat the value: it may hold a password.
 */
function baseUrlProblem(text: string): { problem: string; fix: string } | undefined {
  const fix = `Set AMIGO_BASE_URL to one of ${Object.values(REGION_BASE_URLS).join(', ')}, or leave it unset`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: 'is not a URL', fix: `Write it in full, like ${BASE_URL_EXAMPLE}. ${fix}` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { problem: 'must be an http(s) URL', fix };
  }
  if (url.hostname === '')
    return { problem: 'is not a URL', fix: `Write it in full, like ${BASE_URL_EXAMPLE}` };
  if (url.username !== '' || url.password !== '') {
    return {
      problem: 'must not contain a user name or password',
      fix: 'Remove the "user:password@" part: the pipeline signs in with AMIGO_API_KEY, AMIGO_API_KEY_ID and AMIGO_USER_ID',
    };
  }
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    return {
      problem: 'must not have a query string or fragment',
      fix: `Write only the origin, like ${BASE_URL_EXAMPLE}`,
    };
  }
  if (url.protocol !== 'https:' && !LOOPBACK.has(url.hostname)) {
    return { problem: 'must use https (plain http is allowed only for localhost, the simulator)', fix };
  }
  return undefined;
}

const nonEmpty = z.string().trim().min(1, 'must not be empty');
const positiveInt = z.number().int().positive();
/** What fetch refuses in a header value: line breaks, NUL and other controls (tab aside), above U+00FF. */
function fitsInHeader(value: string): boolean {
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) return false;
  }
  return true;
}
const headerValue = nonEmpty.refine(fitsInHeader, {
  message:
    'holds a character an HTTP header cannot carry (a line break, a control character or a non-Latin-1 letter)',
  params: { fix: 'Copy the value again, exactly as the Amigo dashboard shows it, on one line' },
});

const inputSchema = z
  .object({
    apiKey: headerValue,
    apiKeyId: headerValue,
    userId: headerValue,
    organizationId: OrganizationIdSchema,
    baseUrl: z
      .string()
      .trim()
      .superRefine((text, ctx) => {
        const found = baseUrlProblem(text);
        if (found) ctx.addIssue({ code: 'custom', message: found.problem, params: { fix: found.fix } });
      })
      .optional(),
    region: z.enum(Object.keys(REGION_BASE_URLS) as [AmigoRegion, ...AmigoRegion[]]).optional(),
    rateLimits: z
      .record(z.string(), z.union([z.string(), z.object({ limit: positiveInt, windowMs: positiveInt })]))
      .optional(),
    timeoutMs: positiveInt.optional(),
    maxAttempts: positiveInt.max(20).optional(),
    maxThrottledAttempts: positiveInt.max(100).optional(),
    retryBaseDelayMs: positiveInt.optional(),
    retryMaxDelayMs: positiveInt.optional(),
    tokenRefreshSkewMs: z.number().int().nonnegative().optional(),
    maxDownloadResumes: z.number().int().nonnegative().max(20).optional(),
  })
  .strict();

const FIXES: Record<string, string> = {
  apiKey: 'Set AMIGO_API_KEY to the API key value from the Amigo dashboard',
  apiKeyId: 'Set AMIGO_API_KEY_ID to the id of that API key',
  userId: 'Set AMIGO_USER_ID to the user the pipeline signs in as',
  organizationId: 'Set AMIGO_ORGANIZATION_ID to your organization id',
  baseUrl: `Set AMIGO_BASE_URL to one of ${Object.values(REGION_BASE_URLS).join(', ')}, or leave it unset`,
};

/**
 * Validates a configuration object and fills the defaults. `fieldNames` maps a field to the name
 * the user wrote (an environment variable, a config-file path) for the error message.
 */
export function resolveAmigoConfig(
  input: AmigoClientConfigInput,
  fieldNames: Partial<Record<string, string>> = {},
): AmigoClientConfig {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const key = String(issue.path[0] ?? '');
    const field = fieldNames[key] ?? issue.path.join('.');
    const fix = issue.code === 'custom' ? (issue.params as { fix?: string } | undefined)?.fix : undefined;
    throw new ConfigurationError(field || '(root)', issue.message, fix ?? FIXES[key]);
  }
  const c = parsed.data;
  registerSecret(c.apiKey);
  const baseUrl = (c.baseUrl ?? REGION_BASE_URLS[c.region ?? 'us-east-1']).replace(/\/+$/, '');
  const config: AmigoClientConfig = {
    apiKey: c.apiKey,
    apiKeyId: c.apiKeyId,
    userId: c.userId,
    organizationId: c.organizationId,
    baseUrl,
    rateLimits: resolveRateLimits(c.rateLimits ?? {}, fieldNames.rateLimits ?? 'rateLimits'),
    timeoutMs: c.timeoutMs ?? 30_000,
    maxAttempts: c.maxAttempts ?? 6,
    maxThrottledAttempts: c.maxThrottledAttempts ?? 12,
    retryBaseDelayMs: c.retryBaseDelayMs ?? 250,
    retryMaxDelayMs: c.retryMaxDelayMs ?? 20_000,
    tokenRefreshSkewMs: c.tokenRefreshSkewMs ?? 60_000,
    maxDownloadResumes: c.maxDownloadResumes ?? 3,
  };
  // The key must never be printed by accident: keep it out of enumeration, JSON and inspection.
  Object.defineProperty(config, 'apiKey', { enumerable: false });
  return Object.freeze(config);
}

export const ENV_NAMES = {
  apiKey: 'AMIGO_API_KEY',
  apiKeyId: 'AMIGO_API_KEY_ID',
  userId: 'AMIGO_USER_ID',
  organizationId: 'AMIGO_ORGANIZATION_ID',
  baseUrl: 'AMIGO_BASE_URL',
  region: 'AMIGO_REGION',
} as const;

/** Reads the `AMIGO_*` variables the official SDKs use, plus overrides given in code. */
export function amigoConfigFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Partial<AmigoClientConfigInput> = {},
): AmigoClientConfig {
  const missing = (['apiKey', 'apiKeyId', 'userId', 'organizationId'] as const).find(
    (k) => overrides[k] === undefined && !env[ENV_NAMES[k]]?.trim(),
  );
  if (missing) throw new ConfigurationError(ENV_NAMES[missing], 'is not set', FIXES[missing]);
  const input: AmigoClientConfigInput = {
    apiKey: env.AMIGO_API_KEY ?? '',
    apiKeyId: env.AMIGO_API_KEY_ID ?? '',
    userId: env.AMIGO_USER_ID ?? '',
    organizationId: env.AMIGO_ORGANIZATION_ID ?? '',
    ...(env.AMIGO_BASE_URL?.trim() ? { baseUrl: env.AMIGO_BASE_URL.trim() } : {}),
    ...(env.AMIGO_REGION?.trim() ? { region: env.AMIGO_REGION.trim() as AmigoRegion } : {}),
    ...overrides,
  };
  return resolveAmigoConfig(input, ENV_NAMES);
}
