// The audit (test/support/fault-audit.ts) must be able to fail: after a clean run, each kind of
// damage a fault could leave is made by hand, and the audit names every one.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { conversationPrefix, FILES, STAGING_DIR } from '../../shared/archive-format/keys.ts';
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
    const damaged = await audit(world);

    expect(clean.problems).toEqual([]);
    expect(text.length).toBeGreaterThanOrEqual(16);
    expect(damaged.problems).toEqual(
      expect.arrayContaining([
        `${first.id}: ${STAGING_DIR}chunk-00000000-00001.json left in the staging area`,
        `${first.id}: stray object half.wav`,
        `${second.id}: ${FILES.messages} is in the manifest but missing`,
        `${third.id}: not archived, not pending, in no dead-letter queue (lost)`,
        'a log line holds message text',
        'a log line holds a secret',
        'unexpected dead letter on tag-worker: redriven: moved by the redrive policy',
      ]),
    );
  });
});
