// The audit (test/support/fault-audit.ts) must be able to fail: after a clean run, each kind of
// damage a fault could leave is made by hand, and the audit names every one; likewise the budget's
// own grants: an over-limit grant sequence, a slot given back without a 429, a call that took no grant.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { conversationPrefix, FILES, STAGING_DIR } from '../../shared/archive-format/keys.ts';
import type { OperationId } from '../../shared/openapi/index.ts';
import { audit } from '../support/fault-audit.ts';
import { BUCKET, type FaultWorld, PREFIX, startFaultWorld } from '../support/fault-world.ts';

let world: FaultWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('the fault audit', () => {
  it('when a run is clean, then the audit finds nothing; when files, logs and queues are damaged by hand, then it names each problem', async () => {
    world = await startFaultWorld({});
    const handlers = await world.coldStart();
    await world.run(handlers);
    const clean = await audit(world);
    const [first, second, third] = world.sim.control
      .conversations()
      .filter((c) => c.is_finished && c.is_analyzed);
    if (!first || !second || !third) throw new Error('the world needs three eligible conversations');
    const folder = (c: typeof first) =>
      conversationPrefix(world?.sim.organizationId ?? '', c.created_at, c.id);
    const text = world.sim.control.messages(first.id).find((m) => m.message.length >= 16)?.message ?? '';

    await world.store.put(`${folder(first)}${STAGING_DIR}chunk-00000000-00001.json`, '{}');
    await world.store.put(`${folder(first)}half.wav`, 'RIFF');
    await world.s3.send(
      new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${folder(second)}${FILES.messages}` }),
    );
    await world.s3.send(
      new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${folder(third)}${FILES.manifest}` }),
    );
    world.logs.push(`{"level":"INFO","detail":"${text}"}`, `{"key":"${world.sim.credentials.apiKey}"}`);
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: world.queues['tag-worker'].dlqUrl, MessageBody: '{}' }),
    );
    const userId = world.grants[0]?.key.split('#')[0] ?? '';
    const fabricate = (operationId: OperationId, givenBack: boolean) => {
      const { limit, windowMs, transitMs } = world?.budget[operationId] ?? {
        limit: 0,
        windowMs: 0,
        transitMs: 0,
      };
      // limit + 1 slots evenly spread over one window plus the transit allowance, after the run.
      const from = Date.now() + 60_000;
      for (let i = 0; i <= limit; i++) {
        const slot = from + Math.floor((i * (windowMs + transitMs - 1)) / limit);
        world?.grants.push({
          key: `${userId}#${operationId}`,
          operationId,
          slot,
          resolvedAt: slot,
          ...(givenBack && i === limit ? { givenBackAt: slot + 10 } : {}),
        });
      }
      return { key: `${userId}#${operationId}`, limit, spanMs: windowMs + transitMs };
    };
    const over = fabricate('get-conversations', false);
    const messages = 'get-conversation-messages';
    const givenBack = world.grants.filter((g) => g.operationId === messages && g.givenBackAt).length + 1;
    const answered429 = world.sim.control
      .stats()
      .requests.filter((r) => r.operationId === messages && r.status === 429).length;
    fabricate(messages, true);
    const bypassed = 'get-interaction-insights';
    const sentBypassed = world.sim.control.stats().requests.filter((r) => r.operationId === bypassed).length;
    world.grants.splice(0, world.grants.length, ...world.grants.filter((g) => g.operationId !== bypassed));
    const damaged = await audit(world);

    expect(clean.problems).toEqual([]);
    expect(clean.grants).toBeGreaterThan(0);
    expect(text.length).toBeGreaterThanOrEqual(16);
    expect(sentBypassed).toBeGreaterThan(0);
    expect(damaged.problems).toEqual(
      expect.arrayContaining([
        `${first.id}: ${STAGING_DIR}chunk-00000000-00001.json left in the staging area`,
        `${first.id}: stray object half.wav`,
        `${second.id}: ${FILES.messages} is in the manifest but missing`,
        `${third.id}: not archived, not pending, in no dead-letter queue (lost)`,
        'a log line holds message text',
        'a log line holds a secret',
        'unexpected dead letter on tag-worker: redriven: moved by the redrive policy',
        `${over.key}: ${over.limit + 1} grants counted by the server in one window of ${over.spanMs} ms (budget ${over.limit})`,
        `${messages}: ${givenBack} slots given back for ${answered429} answers 429`,
        `${bypassed}: ${sentBypassed} calls reached Amigo for 0 grants (the budget was bypassed)`,
      ]),
    );
    // The slot given back by a 429 is left out of the verdict: no overrun named for that key.
    expect(damaged.problems.filter((p) => p.includes(`#${messages}:`))).toEqual([]);
    expect(damaged.peakBudgetShareAll).toBeGreaterThan(1);
  });
});
