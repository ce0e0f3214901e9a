// The Amigo client against the simulator over real HTTP: no mocked fetch. Where a test needs a
// response the simulator cannot produce by configuration (a body that breaks the spec), a fetch
// wrapper edits the simulator's real response and the test says so.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALL_MESSAGE_TYPES,
  AmigoRequestError,
  AmigoUnavailableError,
  AuthenticationError,
  DownloadError,
  ResponseValidationError,
} from '../../../shared/amigo/index.ts';
import type { ScriptedFault } from '../../../sim/index.ts';
import { clientFor, collect } from '../../support/client.ts';
import { startTestSimulator } from '../../support/simulator.ts';

type TestSim = Awaited<ReturnType<typeof startTestSimulator>>;
const running: TestSim[] = [];

async function simulator(options: Parameters<typeof startTestSimulator>[0] = {}): Promise<TestSim> {
  const sim = await startTestSimulator({ rateLimits: { enabled: false }, ...options });
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

function calls(sim: TestSim, operationId: string, status?: number): number {
  const byStatus = sim.control.stats().calls[operationId] ?? {};
  if (status !== undefined) return byStatus[String(status)] ?? 0;
  return Object.values(byStatus).reduce((a, b) => a + b, 0);
}

async function sha256(stream: AsyncIterable<Uint8Array>): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { hash: hash.digest('hex'), bytes };
}

function voiceMessages(sim: TestSim): Array<{ conversationId: string; messageId: string }> {
  return sim.control.conversations().flatMap((c) =>
    sim.control
      .messages(c.id)
      .filter((m) => m.format === 'voice')
      .map((m) => ({ conversationId: c.id, messageId: m.id })),
  );
}

describe('authentication', () => {
  it('when many calls start together without a token, then exactly one sign-in serves them all', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    const [conversation] = sim.control.conversations();

    await Promise.all(Array.from({ length: 25 }, () => collect(client.messages(conversation?.id as string))));

    expect(calls(sim, 'sign-in-with-api-key')).toBe(1);
    expect(calls(sim, 'get-conversation-messages', 401)).toBe(0);
  });

  it('when the token nears expires_at, then the client signs in again before the server refuses it', async () => {
    const sim = await simulator({ tokenTtlMs: 1_500 });
    const client = clientFor(sim);
    const [conversation] = sim.control.conversations();

    const deadline = Date.now() + 3_500;
    while (Date.now() < deadline) {
      await client.getInteractionInsights(
        conversation?.id as string,
        firstAgentInteraction(sim, conversation?.id as string),
      );
      await new Promise((r) => setTimeout(r, 50));
    }

    expect(calls(sim, 'sign-in-with-api-key')).toBeGreaterThanOrEqual(3);
    expect(calls(sim, 'get-interaction-insights', 401)).toBe(0);
  });

  it('when the server expires the token early, then concurrent calls share one new sign-in and all succeed', async () => {
    const sim = await simulator({ tokenTtlMs: 600_000 });
    const client = clientFor(sim);
    await client.warmUp();
    sim.control.advanceClock(601_000);

    const ids = sim.control
      .conversations()
      .slice(0, 10)
      .map((c) => c.id);
    await Promise.all(ids.map((id) => collect(client.messages(id))));

    expect(calls(sim, 'sign-in-with-api-key')).toBe(2);
    expect(calls(sim, 'get-conversation-messages', 200)).toBeGreaterThanOrEqual(10);
  });

  it('when the API key is wrong, then an AuthenticationError says what to check, without the key, after one sign-in', async () => {
    const sim = await simulator();
    const client = clientFor(sim, { apiKey: 'wrong-key-0123456789' });

    const error = await collect(client.conversations()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).hint).toMatch(/AMIGO_API_KEY/);
    expect(JSON.stringify(error)).not.toContain('wrong-key-0123456789');
    expect(String((error as Error).stack)).not.toContain('wrong-key-0123456789');
    expect(calls(sim, 'sign-in-with-api-key')).toBe(1);
  });

  it('when a fresh token is refused too, then the client stops after one re-sign-in', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    sim.control.enqueueFaults([
      { operation: 'get-conversations', kind: 'status', status: 401 },
      { operation: 'get-conversations', kind: 'status', status: 401 },
    ]);

    const error = await collect(client.conversations()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AuthenticationError);
    expect(calls(sim, 'sign-in-with-api-key')).toBe(2);
    expect(calls(sim, 'get-conversations')).toBe(2);
  });
});

function firstAgentInteraction(sim: TestSim, conversationId: string): string {
  const message = sim.control.messages(conversationId).find((m) => m.message_type === 'agent-message');
  if (!message) throw new Error(`conversation ${conversationId} has no agent message`);
  return message.interaction_id;
}

describe('pagination', () => {
  it('when listing with any page size, filter and order, then every matching conversation arrives exactly once', async () => {
    const sim = await simulator({ conversations: 60 });
    const client = clientFor(sim);
    const truth = sim.control.conversations();

    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 150 }),
        fc.constantFrom(undefined, true, false),
        fc.constantFrom('+created_at', '-created_at'),
        async (limit, isFinished, order) => {
          const query = {
            limit,
            sort_by: [order],
            ...(isFinished === undefined ? {} : { is_finished: isFinished }),
          };
          const listed = await collect(client.conversations(query));
          const expected = truth.filter((c) => isFinished === undefined || c.is_finished === isFinished);
          expect(listed.map((c) => c.id).sort()).toEqual(expected.map((c) => c.id).sort());
          expect(new Set(listed.map((c) => c.id)).size).toBe(listed.length);
          const times = listed.map((c) => Date.parse(c.created_at));
          const sorted = [...times].sort((a, b) => (order === '+created_at' ? a - b : b - a));
          expect(times).toEqual(sorted);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('when a conversation has more than 500 messages, then every message of every type arrives exactly once', async () => {
    const sim = await simulator({ conversations: 20 });
    const client = clientFor(sim);
    const long = sim.control.conversations().find((c) => c.num_messages > 500);
    expect(long).toBeDefined();
    const id = long?.id as string;

    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 37, max: 500 }), async (limit) => {
        const pages = await collect(client.messagePages(id, { limit, message_type: [...ALL_MESSAGE_TYPES] }));
        const ids = pages.flatMap((p) => p.items.map((m) => m.id));
        expect(ids.sort()).toEqual(
          sim.control
            .messages(id)
            .map((m) => m.id)
            .sort(),
        );
        expect(pages.length).toBeGreaterThan(1);
      }),
      { numRuns: 6 },
    );
    expect(long?.num_messages).toBe(sim.control.messages(id).length);
  });

  it('when pages come back shorter than the limit, then the client still follows has_more to the end', async () => {
    const sim = await simulator({ conversations: 60 });
    const client = clientFor(sim);

    const pages = await collect(client.conversationPages({ limit: 10 }));

    expect(pages.some((p, i) => i < pages.length - 1 && p.items.length < 10)).toBe(true);
    expect(pages.flatMap((p) => p.items)).toHaveLength(60);
    expect(pages.at(-1)?.nextToken).toBeNull();
  });

  it('when paging resumes from a handed-over token, then it continues exactly where the first walk was', async () => {
    const sim = await simulator({ conversations: 60 });
    const client = clientFor(sim);
    const all = await collect(client.conversationPages({ limit: 7 }));
    const handover = all[2]?.nextToken as number;

    const resumed = await collect(client.conversationPages({ limit: 7 }, { startToken: handover }));

    expect(resumed.flatMap((p) => p.items.map((c) => c.id))).toEqual(
      all.slice(3).flatMap((p) => p.items.map((c) => c.id)),
    );
  });
});

describe('retries and errors', () => {
  const retryable: Array<Exclude<ScriptedFault, { kind: 'audio-fail' }>> = [
    { kind: 'status', status: 408 },
    { kind: 'status', status: 429, retryAfterSeconds: 0 },
    { kind: 'status', status: 500 },
    { kind: 'status', status: 502 },
    { kind: 'status', status: 503, retryAfterSeconds: 0 },
    { kind: 'status', status: 504 },
    { kind: 'reset' },
    { kind: 'truncate' },
    { kind: 'malformed' },
  ];

  it.each(retryable.map((f) => [f.kind === 'status' ? `HTTP ${f.status}` : f.kind, f] as const))(
    'when a read meets %s once, then it is retried and succeeds',
    async (_name, fault) => {
      const sim = await simulator();
      const client = clientFor(sim);
      const expected = sim.control.conversations().length;
      sim.control.enqueueFaults([{ ...fault, operation: 'get-conversations' }]);

      const listed = await collect(client.conversations());

      expect(listed).toHaveLength(expected);
      expect(calls(sim, 'get-conversations')).toBe(2);
    },
  );

  it('when a call takes longer than the timeout, then the attempt is abandoned and retried', async () => {
    const sim = await simulator();
    // Each listing attempt's fate as the client saw it: answered, or given up on its timeout.
    const attempts: string[] = [];
    const watched: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (!new URL(request.url).pathname.endsWith('/conversation/')) return fetch(request);
      try {
        const response = await fetch(request);
        attempts.push('answered');
        return response;
      } catch (error) {
        attempts.push(request.signal.aborted ? `abandoned: ${request.signal.reason?.name}` : 'failed');
        throw error;
      }
    };
    const client = clientFor(sim, { timeoutMs: 300 }, { fetch: watched });
    sim.control.enqueueFaults([{ operation: 'get-conversations', kind: 'delay', ms: 1_500 }]);

    const listed = await collect(client.conversations());

    expect(listed.length).toBeGreaterThan(0);
    // The delayed attempt (1.5 s) was abandoned at the 300 ms timeout, not waited out, and the next
    // attempt answered.
    expect(attempts.slice(0, 2)).toEqual(['abandoned: TimeoutError', 'answered']);
  });

  it.each([400, 403, 404, 422])(
    'when a call is answered %i, then it fails at once with the status and a hint',
    async (status) => {
      const sim = await simulator();
      const client = clientFor(sim);
      sim.control.enqueueFaults([{ operation: 'get-conversations', kind: 'status', status }]);

      const error = await collect(client.conversations()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(AmigoRequestError);
      expect(error).toMatchObject({ status, operationId: 'get-conversations', retryable: false });
      expect((error as AmigoRequestError).context).toMatchObject({ attempts: 1, status });
      expect((error as AmigoRequestError).hint).toBeTruthy();
      expect(calls(sim, 'get-conversations')).toBe(1);
    },
  );

  it('when the simulator rejects a bad id with 422, then the error carries the field from the detail', async () => {
    const sim = await simulator();
    const client = clientFor(sim);

    const error = await collect(client.messages('not-an-id')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AmigoRequestError);
    expect((error as Error).message).toMatch(/422.*conversation_id/);
  });

  it('when failures outlast maxAttempts, then the error is retryable and counts the attempts', async () => {
    const sim = await simulator();
    const client = clientFor(sim, { maxAttempts: 3 });
    sim.control.enqueueFaults(
      Array.from({ length: 5 }, () => ({
        operation: 'get-conversations' as const,
        kind: 'status' as const,
        status: 500,
      })),
    );

    const error = await collect(client.conversations()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AmigoUnavailableError);
    expect((error as AmigoUnavailableError).context).toMatchObject({ attempts: 3, status: 500 });
    expect(calls(sim, 'get-conversations')).toBe(3);
  });

  it('when tags meet a 503, then the idempotent write is retried and applied once', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    const conversation = sim.control.conversations().find((c) => Object.keys(c.tags).length < 15);
    const id = conversation?.id as string;
    sim.control.enqueueFaults([
      { operation: 'modify-tags-of-conversation', kind: 'status', status: 503, retryAfterSeconds: 0 },
    ]);

    await client.modifyTags(id, { updates: { qa_reviewed: 'yes' }, deletes: [] });

    expect(sim.control.conversation(id)?.tags.qa_reviewed).toBe('yes');
    expect(calls(sim, 'modify-tags-of-conversation')).toBe(2);
  });

  it('when recommend meets a 500, then it is not sent again (the server may have acted), but a 503 is', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    const stalled = sim.control.conversations().find((c) => sim.control.scenario(c.id) === 'stalled');
    const id = stalled?.id as string;
    const interaction = sim.control.messages(id).at(-1)?.interaction_id as string;

    sim.control.enqueueFaults([
      { operation: 'recommend-responses-for-interaction', kind: 'status', status: 500 },
    ]);
    await expect(client.recommendResponses(id, interaction)).rejects.toBeInstanceOf(AmigoUnavailableError);
    expect(calls(sim, 'recommend-responses-for-interaction')).toBe(1);

    sim.control.enqueueFaults([
      { operation: 'recommend-responses-for-interaction', kind: 'status', status: 503, retryAfterSeconds: 0 },
    ]);
    const responses = await client.recommendResponses(id, interaction);
    expect(responses.length).toBeGreaterThan(0);
    expect(calls(sim, 'recommend-responses-for-interaction')).toBe(3);
  });

  it('when recommend is asked for a finished conversation, then the 400 is a permanent request error', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    const finished = sim.control.conversations().find((c) => c.is_finished);
    const id = finished?.id as string;

    const error = await client
      .recommendResponses(id, firstAgentInteraction(sim, id))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 400, retryable: false });
    expect(calls(sim, 'recommend-responses-for-interaction')).toBe(1);
  });
});

/** A fetch that lets a test edit the simulator's real get-conversations answers. */
function editingConversations(edit: (conversations: Array<Record<string, unknown>>) => void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!new URL((input as Request).url).pathname.endsWith('/conversation/')) return response;
    const body = (await response.json()) as { conversations: Array<Record<string, unknown>> };
    edit(body.conversations);
    return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
  };
}

describe('response validation', () => {
  it('when a 200 body breaks the spec, then the error names the field path', async () => {
    const sim = await simulator();
    // A fetch wrapper removes one required field from the simulator's real response: the simulator
    // itself always answers by the spec.
    const client = clientFor(
      sim,
      {},
      {
        fetch: editingConversations((conversations) => {
          delete conversations[1]?.created_at;
        }),
      },
    );

    const error = await collect(client.conversations()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseValidationError);
    expect((error as Error).message).toContain('/conversations/1/created_at');
  });

  it('when a body carries fields the spec does not know, then they are kept', async () => {
    const sim = await simulator();
    // The fetch wrapper adds a field to the simulator's real response, as a newer API version might.
    const client = clientFor(
      sim,
      {},
      {
        fetch: editingConversations((conversations) => {
          for (const c of conversations) c.channel = { kind: 'sms' };
        }),
      },
    );

    const [first] = await collect(client.conversations());

    expect((first as unknown as { channel: unknown }).channel).toEqual({ kind: 'sms' });
  });
});

describe('rate limiting against the server', () => {
  it('when the client is configured at the server limit, then a burst of calls draws no 429', async () => {
    const sim = await simulator({
      rateLimits: { enabled: true, overrides: { 'get-conversation-messages': { limit: 10, windowMs: 500 } } },
    });
    const client = clientFor(sim, { rateLimits: { 'get-conversation-messages': '10/500ms' } });
    const ids = sim.control
      .conversations()
      .slice(0, 30)
      .map((c) => c.id);

    await Promise.all(ids.map((id) => collect(client.messages(id, { limit: 500 }))));

    expect(calls(sim, 'get-conversation-messages', 429)).toBe(0);
    expect(calls(sim, 'get-conversation-messages', 200)).toBeGreaterThanOrEqual(30);
  });

  it('when the client believes in a higher limit than the server enforces, then it follows the 429s and finishes', async () => {
    const sim = await simulator({
      rateLimits: { enabled: true, overrides: { 'get-conversation-messages': { limit: 5, windowMs: 500 } } },
    });
    const client = clientFor(sim, { maxThrottledAttempts: 30 });
    const ids = sim.control
      .conversations()
      .slice(0, 20)
      .map((c) => c.id);

    const results = await Promise.all(ids.map((id) => collect(client.messages(id, { limit: 500 }))));

    expect(results.every((r) => r.length > 0)).toBe(true);
    // The server's X-RateLimit-Limit replaced the client's belief after the first answers, and each
    // 429 held the operation until Retry-After: a handful of 429s, not one per call and retry.
    const throttled = calls(sim, 'get-conversation-messages', 429);
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThan(ids.length);
    expect(calls(sim, 'get-conversation-messages', 200)).toBeGreaterThanOrEqual(20);
  });

  it('when the server answers a storm of 429s, then the client waits them out within its throttle budget', async () => {
    const sim = await simulator();
    const client = clientFor(sim);
    sim.control.enqueueFaults(
      Array.from({ length: 8 }, () => ({
        operation: 'get-conversations' as const,
        kind: 'status' as const,
        status: 429,
        retryAfterSeconds: 0,
      })),
    );

    const listed = await collect(client.conversations());

    expect(listed.length).toBeGreaterThan(0);
    expect(calls(sim, 'get-conversations', 429)).toBe(8);
  });
});

describe('recordings', () => {
  it('when every voice message is downloaded, then the bytes match the source exactly, whatever shape the source answer had', async () => {
    const sim = await simulator({ conversations: 20 });
    const client = clientFor(sim);
    const voice = voiceMessages(sim).slice(0, 8);
    expect(voice.length).toBeGreaterThan(2);

    for (const { conversationId, messageId } of voice) {
      const download = await client.downloadMessageSource(conversationId, messageId);
      const { hash, bytes } = await sha256(download.stream);
      const truth = sim.control.audio(messageId);
      expect(bytes).toBe(truth?.bytes);
      expect(hash).toBe(await truth?.sha256());
      expect(download.contentType).toBe(truth?.contentType);
    }
  });

  it('when the signed URL has expired by the time it is used, then a fresh one is fetched and the download completes', async () => {
    const sim = await simulator({ conversations: 20, signedUrlTtlMs: 1_000 });
    let expireNext = true;
    // Moves the simulator's clock past the URL's expiry just before the first audio request, so
    // the simulator's own signature check refuses it.
    const client = clientFor(
      sim,
      {},
      {
        fetch: async (input, init) => {
          const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          if (expireNext && !url.includes('/v1/')) {
            expireNext = false;
            sim.control.advanceClock(5_000);
          }
          return fetch(input, init);
        },
      },
    );
    const [{ conversationId, messageId }] = voiceMessages(sim) as [
      { conversationId: string; messageId: string },
    ];

    const download = await client.downloadMessageSource(conversationId, messageId);
    const { hash } = await sha256(download.stream);

    expect(hash).toBe(await sim.control.audio(messageId)?.sha256());
    expect(calls(sim, 'retrieve-message-source')).toBe(2);
    expect(calls(sim, 'audio', 403)).toBe(1);
  });

  it('when the audio stream dies part-way, then the download resumes from the last byte and is byte-exact', async () => {
    const sim = await simulator({ conversations: 20 });
    const client = clientFor(sim);
    const [{ conversationId, messageId }] = voiceMessages(sim) as [
      { conversationId: string; messageId: string },
    ];
    sim.control.enqueueFaults([{ operation: 'audio', kind: 'audio-fail', afterBytes: 10_000 }]);

    const download = await client.downloadMessageSource(conversationId, messageId);
    const { hash, bytes } = await sha256(download.stream);

    expect(bytes).toBe(sim.control.audio(messageId)?.bytes);
    expect(hash).toBe(await sim.control.audio(messageId)?.sha256());
    expect(calls(sim, 'audio')).toBe(2);
  });

  it('when the stream keeps dying, then the download fails with a retryable DownloadError', async () => {
    const sim = await simulator({ conversations: 20 });
    const client = clientFor(sim, { maxDownloadResumes: 2 });
    const [{ conversationId, messageId }] = voiceMessages(sim) as [
      { conversationId: string; messageId: string },
    ];
    sim.control.enqueueFaults(
      Array.from({ length: 5 }, () => ({
        operation: 'audio' as const,
        kind: 'audio-fail' as const,
        afterBytes: 1_000,
      })),
    );

    const download = await client.downloadMessageSource(conversationId, messageId);
    const error = await sha256(download.stream).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).retryable).toBe(true);
  });

  it('when a text message source is asked for, then the 400 is a permanent request error', async () => {
    const sim = await simulator({ conversations: 20 });
    const client = clientFor(sim);
    const text = sim.control
      .conversations()
      .flatMap((c) => sim.control.messages(c.id).map((m) => ({ c: c.id, m })))
      .find(({ m }) => m.format === 'text');

    const error = await client
      .getMessageSourceUrl(text?.c as string, text?.m.id as string)
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 400, retryable: false });
  });
});
