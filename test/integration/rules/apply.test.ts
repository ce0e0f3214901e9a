// `rules apply`: the tag stage over an existing archive (a backfill), posting to the simulator.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyRules } from '../../../cli/commands/rules.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { conversationId } from '../../../shared/ids.ts';
import { systemClock } from '../../../shared/ports/clock.ts';
import { archiveConversation } from '../../../shared/stages/archive-conversation.ts';
import { clientFor } from '../../support/client.ts';
import { startTestSimulator } from '../../support/simulator.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('rules apply', () => {
  it('when run over an archive, then archived conversations are tagged, and a second run posts nothing', async () => {
    const sim = await startTestSimulator({
      rateLimits: { enabled: false },
      conversations: 24,
      longConversations: 0,
    });
    cleanups.push(() => sim.stop());
    const root = await mkdtemp(join(tmpdir(), 'rules-apply-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const store = new FsArchiveStore(root);
    const amigo = clientFor(sim);
    const archived = sim.control.conversations().filter((c) => c.is_finished && c.is_analyzed);
    for (const c of archived) {
      await archiveConversation(
        {
          runId: null,
          organizationId: sim.organizationId,
          conversationId: conversationId(c.id),
          conversation: c,
        },
        { amigo, store, clock: systemClock },
      );
    }
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);

    const first = await applyRules(
      'examples/rules.yaml',
      { archive: root, since: '2000-01-01' },
      { amigo, out, err: out },
    );
    const postsAfterFirst = sim.control
      .stats()
      .writes.filter((w) => w.operationId === 'modify-tags-of-conversation').length;
    const second = await applyRules(
      'examples/rules.yaml',
      { archive: root, since: '2000-01-01' },
      { amigo, out, err: out },
    );

    expect([first, second]).toEqual([0, 0]);
    expect(postsAfterFirst).toBeGreaterThan(0);
    expect(
      sim.control.stats().writes.filter((w) => w.operationId === 'modify-tags-of-conversation').length,
    ).toBe(postsAfterFirst);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^${archived.length} archived conversation\\(s\\) since 2000-01-01: 0 tagged, ${archived.length} unchanged`,
      ),
    );
  });

  it('when since is not a day, then it says how to write it and posts nothing', async () => {
    const lines: string[] = [];
    const code = await applyRules(
      'examples/rules.yaml',
      { archive: '/nonexistent', since: 'last week' },
      { out: (l) => lines.push(l), err: (l) => lines.push(l) },
    );

    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/--since "last week" is not a day\. Write it like 2026-11-01/);
  });
});
