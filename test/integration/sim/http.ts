// Small HTTP helpers for the simulator's integration tests: plain global fetch, no client library.
import type { SimCredential } from '../../../sim/index.ts';
import type { TestSimulator } from '../../support/simulator.ts';

export type Query = Record<string, string | number | boolean | string[] | undefined>;

/** Form-exploded query string (`id=a&id=b`), as openapi-fetch sends arrays. */
export function qs(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function signInRequest(
  sim: TestSimulator,
  credential: Partial<SimCredential> = {},
  org = sim.organizationId,
) {
  const c = { ...sim.credentials, ...credential };
  return fetch(`${sim.url}/v1/${org}/user/signin_with_api_key`, {
    method: 'POST',
    headers: { 'x-api-key': c.apiKey, 'x-api-key-id': c.apiKeyId, 'x-user-id': c.userId },
  });
}

export async function signIn(sim: TestSimulator, credential: Partial<SimCredential> = {}): Promise<string> {
  const res = await signInRequest(sim, credential);
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id_token: string }).id_token;
}

export interface Api {
  token: string;
  get(path: string, query?: Query, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  json<T = unknown>(path: string, query?: Query): Promise<T>;
}

/** Calls under `/v1/{org}` with a bearer token. */
export async function api(sim: TestSimulator, token?: string): Promise<Api> {
  const bearer = token ?? (await signIn(sim));
  const base = `${sim.url}/v1/${sim.organizationId}`;
  const auth = { authorization: `Bearer ${bearer}` };
  const get = (path: string, query?: Query, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}${qs(query)}`, { headers: { ...auth, ...headers } });
  return {
    token: bearer,
    get,
    post: (path, body, headers = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    json: async <T>(path: string, query?: Query): Promise<T> => {
      const res = await get(path, query);
      if (res.status !== 200) throw new Error(`GET ${path} -> ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  };
}

export interface Page<T> {
  items: T[];
  pages: number;
  shortPages: number;
  tokens: Array<number | null>;
}

/** Follows continuation tokens to the end of a list. */
export async function collectPages<T>(
  a: Api,
  path: string,
  key: 'conversations' | 'messages',
  query: Query,
  limit: number,
): Promise<Page<T>> {
  const out: Page<T> = { items: [], pages: 0, shortPages: 0, tokens: [] };
  let token: number | undefined;
  for (;;) {
    const body = await a.json<{ [k: string]: unknown; has_more: boolean; continuation_token: number | null }>(
      path,
      {
        ...query,
        limit,
        continuation_token: token,
      },
    );
    const items = body[key] as T[];
    out.items.push(...items);
    out.pages++;
    out.tokens.push(body.continuation_token);
    if (!body.has_more) {
      if (body.continuation_token !== null) throw new Error('has_more false but a token was given');
      return out;
    }
    if (items.length < limit) out.shortPages++;
    token = body.continuation_token as number;
  }
}
