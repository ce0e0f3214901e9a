import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../../shared/amigo/auth.ts';
import type { Clock } from '../../../shared/ports/clock.ts';

function manualClock(start = 0): Clock & { set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    sleep: async () => {},
    set: (ms) => {
      now = ms;
    },
  };
}

describe('TokenCache', () => {
  it('when many callers ask at once, then one sign-in serves them all', async () => {
    const clock = manualClock();
    let signIns = 0;
    const cache = new TokenCache(
      async () => {
        signIns++;
        await new Promise((r) => setTimeout(r, 10));
        return { token: `t${signIns}`, expiresAt: 3_600_000 };
      },
      clock,
      60_000,
    );

    const tokens = await Promise.all(Array.from({ length: 50 }, () => cache.token()));

    expect(new Set(tokens)).toEqual(new Set(['t1']));
    expect(signIns).toBe(1);
  });

  it('when the token is within the skew of expiry, then it is renewed; before that it is reused', async () => {
    const clock = manualClock();
    let signIns = 0;
    const cache = new TokenCache(
      async () => ({ token: `t${++signIns}`, expiresAt: clock.now() + 3_600_000 }),
      clock,
      60_000,
    );
    await cache.token();

    clock.set(3_600_000 - 60_001);
    expect(await cache.token()).toBe('t1');
    clock.set(3_600_000 - 60_000);
    expect(await cache.token()).toBe('t2');
  });

  it('when the token lives shorter than ten times the skew, then it is renewed at nine tenths of its life', async () => {
    const clock = manualClock();
    let signIns = 0;
    const cache = new TokenCache(
      async () => ({ token: `t${++signIns}`, expiresAt: clock.now() + 1_000 }),
      clock,
      60_000,
    );
    await cache.token();

    clock.set(899);
    expect(await cache.token()).toBe('t1');
    clock.set(900);
    expect(await cache.token()).toBe('t2');
  });

  it('when a stale token is invalidated after a newer one replaced it, then the newer one stays', async () => {
    const clock = manualClock();
    let signIns = 0;
    const cache = new TokenCache(
      async () => ({ token: `t${++signIns}`, expiresAt: 3_600_000 }),
      clock,
      60_000,
    );
    await cache.token();
    cache.invalidate('t1');
    expect(await cache.token()).toBe('t2');

    cache.invalidate('t1');

    expect(await cache.token()).toBe('t2');
    expect(signIns).toBe(2);
  });

  it('when sign-in fails, then every waiting caller sees the failure and the next call tries again', async () => {
    const clock = manualClock();
    let attempts = 0;
    const cache = new TokenCache(
      async () => {
        attempts++;
        if (attempts === 1) throw new Error('refused');
        return { token: 'ok', expiresAt: 3_600_000 };
      },
      clock,
      60_000,
    );

    const results = await Promise.allSettled([cache.token(), cache.token()]);

    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await cache.token()).toBe('ok');
  });
});
