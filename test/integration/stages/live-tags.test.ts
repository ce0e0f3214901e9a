// Reading live tags for `rules apply --live`: many ids per get-conversations call, against the real
// simulator (whose pages may be shorter than their limit).
import { describe, expect, it } from 'vitest';
import { LIVE_TAGS_BATCH, readLiveTags } from '../../../shared/stages/live-tags.ts';
import { clientFor } from '../../support/client.ts';
import { useTestSimulator } from '../../support/simulator.ts';

const sim = useTestSimulator({ rateLimits: { enabled: false }, conversations: 250, longConversations: 0 });

describe('readLiveTags', () => {
  it('when 250 conversations are asked for, then every one’s tags come back in a handful of calls, each counted', async () => {
    // Arrange
    const s = sim.get();
    const conversations = s.control.conversations();
    const ids = [...conversations.map((c) => c.id), conversations[0]?.id as string];
    s.control.resetStats();

    // Act
    const live = await readLiveTags(clientFor(s), ids);

    // Assert
    expect(Object.fromEntries(live.tags)).toEqual(
      Object.fromEntries(conversations.map((c) => [c.id, c.tags])),
    );
    expect(live.calls).toBe(s.control.stats().calls['get-conversations']?.['200']);
    expect(live.calls).toBeGreaterThanOrEqual(Math.ceil(conversations.length / LIVE_TAGS_BATCH));
    expect(live.calls).toBeLessThan(conversations.length / 10);
  });

  it('when an id is not in Amigo, then it is absent from the answer', async () => {
    // Arrange
    const s = sim.get();
    const known = s.control.conversations()[0]?.id as string;

    // Act
    const live = await readLiveTags(clientFor(s), [known, 'ffffffffffffffffffffffff']);

    // Assert
    expect([...live.tags.keys()]).toEqual([known]);
  });
});
