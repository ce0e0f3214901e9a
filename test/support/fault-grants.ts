// The shared rate budget's own grants, for the fault audit's "calls per operation within the limit
// in every window" (issue #12). The simulator's request log cannot be the verdict: its times are
// when the simulator, sharing one busy event loop with every handler, got to a request. The slot
// `acquire` resolves with is the time the budget reasoned about, so the audit checks those.
//
// How they are recorded: the fault world mocks the budget's module (test side only, no seam in
// production code) with a subclass of `DynamoDbRateBudget` that logs every slot it hands out and
// every 429 that gives a slot back. Arguments pass through untouched, so a new parameter of
// `acquire` (a priority, say) needs no change here; `grantKey` is the one place that knows how a
// budget names its (user, operation) key.
//
// The bound checked (shared/adapters/dynamodb-rate-budget.ts, header): committed slots of one key
// lie so that at most `limit` fall in any window of `window + T` (T, the transit allowance, 5% of
// the window), which keeps the server's windows, shorter by T, at the limit. A call answered 429
// gives its slot back by design (the server did not count it) and the slot may be taken again, so
// the verdict counts the grants the server counted: all grants less those given back. The audit
// reports both, and checks that every slot given back matches a 429 the simulator really answered,
// so a give-back cannot hide an overrun.
import type {
  DynamoDbRateBudget,
  DynamoDbRateBudgetOptions,
  RateBudgetStats,
} from '../../shared/adapters/dynamodb-rate-budget.ts';

export interface Grant {
  /** The budget's key: `<userId>#<operationId>`. */
  readonly key: string;
  readonly operationId: string;
  /** The slot `acquire` resolved with (epoch ms). */
  readonly slot: number;
  /** When `acquire` resolved (epoch ms): at most T/4 after the slot by design. */
  readonly resolvedAt: number;
  /** Set when a 429 answered this grant's call and the budget was told (epoch ms). */
  givenBackAt?: number;
}

/** The deployed budget of one operation: `limit` per `windowMs`, each slot holding window + `transitMs`. */
export interface BudgetWindow {
  readonly limit: number;
  readonly windowMs: number;
  readonly transitMs: number;
}

/** The default transit allowance of the DynamoDB budget: 5% of the window, at least 5 ms (its `defaultMaxTransitMs`). */
export function defaultTransitMs(windowMs: number): number {
  return Math.max(5, Math.round(windowMs * 0.05));
}

/** How a budget names the key a grant is taken from. */
export function grantKey(options: Pick<DynamoDbRateBudgetOptions, 'userId'>, operationId: string): string {
  return `${options.userId}#${operationId}`;
}

type BudgetClass = typeof DynamoDbRateBudget;

/** What the recording budgets write to: every grant, and each budget's own counters (reads, writes, conflicts...). */
export interface GrantLog {
  readonly grants: Grant[];
  readonly stats: RateBudgetStats[];
}

/** A `DynamoDbRateBudget` that appends every grant and give-back to `log`. */
export function recordingBudget(Base: BudgetClass, log: GrantLog): BudgetClass {
  const { grants } = log;
  return class RecordingRateBudget extends Base {
    readonly #options: DynamoDbRateBudgetOptions;

    constructor(options: DynamoDbRateBudgetOptions) {
      super(options);
      this.#options = options;
      log.stats.push(this.stats);
    }

    override async acquire(...args: Parameters<DynamoDbRateBudget['acquire']>): Promise<number> {
      const slot = await super.acquire(...args);
      const [operationId] = args;
      grants.push({ key: grantKey(this.#options, operationId), operationId, slot, resolvedAt: Date.now() });
      return slot;
    }

    override observe(...args: Parameters<DynamoDbRateBudget['observe']>): void {
      const [operationId, feedback] = args;
      if (feedback.status === 429 && feedback.grantedAt !== undefined) {
        const key = grantKey(this.#options, operationId);
        const grant = grants.find(
          (g) => g.key === key && g.slot === feedback.grantedAt && g.givenBackAt === undefined,
        );
        if (grant) grant.givenBackAt = Date.now();
      }
      super.observe(...args);
    }
  };
}

export interface KeyWindows {
  readonly key: string;
  readonly operationId: string;
  readonly limit: number;
  /** window + transit allowance: the length of the windows checked. */
  readonly spanMs: number;
  readonly grants: number;
  readonly givenBack: number;
  /** Most grants the server counted (given-back ones left out) in one window of `spanMs`. */
  readonly peakCounted: number;
  /** The same with the given-back grants in: may pass the limit, by design. */
  readonly peakAll: number;
  /** Latest resolution after its slot, ms. */
  readonly maxLateMs: number;
}

/** Per budget key, the busiest window of its grants (see the header for the bound). */
export function grantWindows(
  grants: readonly Grant[],
  budget: Readonly<Record<string, BudgetWindow>>,
): KeyWindows[] {
  const byKey = new Map<string, Grant[]>();
  for (const g of grants) byKey.set(g.key, [...(byKey.get(g.key) ?? []), g]);
  return [...byKey].map(([key, list]) => {
    const operationId = (list[0] as Grant).operationId;
    const rate = budget[operationId];
    if (!rate) throw new Error(`no deployed budget for ${operationId}`);
    const spanMs = rate.windowMs + rate.transitMs;
    return {
      key,
      operationId,
      limit: rate.limit,
      spanMs,
      grants: list.length,
      givenBack: list.filter((g) => g.givenBackAt !== undefined).length,
      peakCounted: busiest(
        list.filter((g) => g.givenBackAt === undefined).map((g) => g.slot),
        spanMs,
      ),
      peakAll: busiest(
        list.map((g) => g.slot),
        spanMs,
      ),
      maxLateMs: Math.max(0, ...list.map((g) => g.resolvedAt - g.slot)),
    };
  });
}

/** Most times in one half-open window [t, t + spanMs). */
function busiest(times: readonly number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= spanMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}
