// The shared rate budget's classes against dynalite: a normal caller (an archive job) stops at the
// reserve once a high caller (the stall worker) has used the operation; the high caller still gets
// a slot at once; neither class ever puts a window over the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateBudgetTable, DynamoDbRateBudget } from '../../../shared/adapters/dynamodb-rate-budget.ts';
import { resolveRateLimits } from '../../../shared/amigo/rate-limit.ts';
import type { OperationId } from '../../../shared/openapi/index.ts';
import type { Clock } from '../../../shared/ports/clock.ts';
import type { Priority } from '../../../shared/ports/rate-budget.ts';
import { type DrivenBudget, driveBudgetsVirtually, maxInWindow } from '../../support/drive-budgets.ts';
import { type Dynalite, startDynalite } from '../../support/dynalite.ts';
import { manualClock } from '../../support/manual-clock.ts';

const OP: OperationId = 'get-conversation-messages';
const TABLE = 'amigo-qa-rate-budget';
const LIMIT = 10;
const WINDOW = 500;
const TRANSIT = 5;

let dynamo: Dynalite;
let users = 0;

function budget(userId: string, clock: Clock): DynamoDbRateBudget {
  return new DynamoDbRateBudget({
    client: dynamo.client(),
    tableName: TABLE,
    userId,
    limits: resolveRateLimits({ [OP]: { limit: LIMIT, windowMs: WINDOW } }),
    clock,
    maxTransitMs: TRANSIT,
    reserveShare: 0.2,
  });
}

function newUser(): string {
  users++;
  return `prio-${users}-${Date.now()}`;
}

/** A clock that moves only when the budget sleeps: store round trips take no time. */
function sleepingClock(): Clock & { readonly start: number } {
  const start = Date.parse('2026-12-01T00:00:00Z');
  let now = start;
  return {
    start,
    now: () => now,
    sleep: async (ms: number) => {
      now += Math.max(0, ms);
    },
  };
}

/** One budget instance whose callers all ask in `priority`, recording their slots. */
function classed(b: DynamoDbRateBudget, priority: Priority, slots: number[]): DrivenBudget {
  return {
    acquire: async (op, signal) => {
      const slot = await b.acquire(op, signal, priority);
      slots.push(slot);
      return slot;
    },
    flush: () => b.flush(),
  };
}

beforeAll(async () => {
  dynamo = await startDynalite();
  await createRateBudgetTable(dynamo.client(), TABLE);
});

afterAll(() => dynamo.stop());

describe('DynamoDbRateBudget by class', () => {
  it('when a high caller has used the operation and only the reserve is free, then a normal caller waits a window while a high caller (another process) starts at once', async () => {
    // Arrange: the stall worker's process calls once, the archive worker's fills the window down to the reserve (2 of 10).
    const clock = sleepingClock();
    const user = newUser();
    const stall = budget(user, clock);
    const archive = budget(user, clock);
    await stall.acquire(OP, undefined, 'high');
    for (let i = 0; i < LIMIT - 3; i++) await archive.acquire(OP, undefined, 'normal');
    const filledAt = clock.now();

    // Act
    const high = await stall.acquire(OP, undefined, 'high');
    const normal = await archive.acquire(OP, undefined, 'normal');

    // Assert
    expect(filledAt).toBe(clock.start);
    expect(high).toBe(clock.start);
    expect(normal).toBe(clock.start + WINDOW + TRANSIT);
  });

  it('when no high caller has used the operation, then normal callers use the whole limit at once', async () => {
    // Arrange
    const clock = sleepingClock();
    const archive = budget(newUser(), clock);

    // Act
    const slots: number[] = [];
    for (let i = 0; i < LIMIT; i++) slots.push(await archive.acquire(OP, undefined, 'normal'));

    // Assert
    expect(slots).toEqual(new Array(LIMIT).fill(clock.start));
  });

  it('when 3 archive and 1 stall process saturate one operation in virtual time, then no window holds more than the limit, the budget is spent and the stall process gets at least the reserve', async () => {
    // Arrange
    const clock = manualClock();
    const user = newUser();
    const high: number[] = [];
    const normal: number[] = [];
    const budgets = [
      classed(budget(user, clock), 'high', high),
      ...[1, 2, 3].map(() => classed(budget(user, clock), 'normal', normal)),
    ];
    const windows = 4;

    // Act
    await driveBudgetsVirtually(
      budgets,
      { callers: 2, durationMs: windows * WINDOW, op: OP },
      { clock, storeIdle: () => dynamo.inFlight() === 0 },
    );

    // Assert: the limit holds for both classes together (slots one span apart), the budget is still
    // spent (at least 90%), and the high class gets at least its reserve in every window.
    const all = [...high, ...normal].sort((a, b) => a - b);
    expect(maxInWindow(all, WINDOW + TRANSIT)).toBeLessThanOrEqual(LIMIT);
    expect(all.length).toBeGreaterThanOrEqual(0.9 * LIMIT * windows);
    expect(high.length).toBeGreaterThanOrEqual(2 * windows);
    expect(normal.length).toBeGreaterThan(0);
  });
});
