// A RateBudget shared by every process of the pipeline: one DynamoDB item per (user, operation),
// keyed `<userId>#<operationId>`, that every Lambda function takes its tokens from.
//
// Algorithm: a sliding-window log with reservations ("virtual scheduling" on the log). The item
// keeps the start times ("slots") of the calls of roughly the last two windows, including slots
// reserved in the future, sorted. An acquire writes one new slot: the earliest time t >= max(now +
// storage round trip, blockedUntil) such that, with t inserted, every L+1 consecutive slots lie at
// least `span` apart (L = limit, span = window + maxTransitMs). The write is a conditional PutItem on the
// item's version token, so writes are linearizable: every slot was checked against every slot
// committed before it. The caller then sleeps until its slot (a waiting process sends no requests
// and there is no stampede when a slot frees: each slot has exactly one owner), re-reads the item
// just before a slot it reserved ahead, to honour a block set meanwhile by another process, and
// starts. Happy path (a slot is free now): one conditional write. A lost race retries with the
// fresh item. Callers of one process share one write per batch (a single writer per key).
//
// Why not a token bucket or GCRA with burst = limit: both admit `limit` calls at once and then
// refill, so a sliding window of the server's length can see up to 2 x limit - 1 calls (GCRA with
// burst L and emission interval W/L admits L calls at 0 and one more at W/L). A bound of L per
// window needs the log (or GCRA with burst 1, which gives up all bursts).
//
// Bound. Every committed slot set satisfies s[k+L] - s[k] >= span (each insertion is checked
// against all committed slots; removing a slot never breaks it), so at most L slots lie in any
// half-open window of length span = window + T, where T = `maxTransitMs`, the longest a call may
// take from its slot to its arrival at the server (as in the in-process budget). A caller starts no
// earlier than its slot and no later than slot + T/4 (one whose write or timer comes back later
// gives the slot back and reserves again), and `acquire` resolves with the slot. So if the network
// part of the transit stays within 3T/4 and process clocks agree within that too, call k+L arrives
// no earlier than s[k+L] >= s[k] + window + T, while call k arrived by s[k] + T: at most L arrivals
// in any window of the server's length, whatever window algorithm the server uses. T defaults to
// 5% of the window (at least 5 ms), so while work waits the budget runs at window / (window + T)
// >= 95% of the limit. Unlike the in-process budget, a slot is not shortened when the response
// comes back early: that would cost a write per call.
//
// Server feedback (`observe`): a 429 frees its own slot (the server did not count it) and blocks
// the key for everyone until Retry-After (or X-RateLimit-Reset) through `bu` in the item; waiting callers whose slot falls inside a block
// give their slot back and reserve after it. A lower X-RateLimit-Limit is stored in `lim` and used
// by every process (a higher one restores the configured limit, never more). Calls the server
// counts that no process here made (X-RateLimit-Remaining) are added as slots. An aborted waiter
// gives its slot back. Writes started by `observe` or an abort run in the background: await
// `flush()` before a Lambda handler returns.
//
// Classes (shared/ports/rate-budget.ts `Priority`): a `normal` reservation takes the earliest slot
// at which its window holds fewer than limit - reserve slots while the key has served a `high` caller
// within the last RESERVE_HOLD_WINDOWS windows (`hi` in the item); a `high` one takes any slot under
// the limit, and goes first in a batch. No extra term in the conditional write is needed: the write
// is conditioned on the whole item's version, so the slot set every class is judged against is the
// committed one, and every slot of either class is checked against the full limit as well. A wrong
// class can only make a caller slower or faster, never put a window over the limit. What the
// reserve cannot do here is overtake normal slots already reserved ahead: a high caller waits behind
// them for at most the reserve's share of each window, while the in-process budget serves a waiting
// high caller before any waiting normal one.
//
// Item: pk (S) `<userId>#<operationId>`, v (S, version token, unique per write so that an item
// deleted by TTL and re-created cannot be mistaken for an old version), g (L of N, slots in epoch
// ms), bu (N, blocked until, epoch ms), lim (N, optional), hi (N, optional: the last high-class
// reservation, epoch ms), expiresAt (N, epoch seconds: TTL, one
// hour after the last slot or block stops mattering).
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  CreateTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { rateBudgetTableSchema } from '../contract/rate-budget-table.ts';
import { ConfigurationError, RetryableError } from '../errors.ts';
import type { OperationId, RateLimit } from '../openapi/index.ts';
import { type Clock, systemClock } from '../ports/clock.ts';
import {
  DEFAULT_RESERVE_SHARE,
  type Priority,
  type RateBudget,
  type RateFeedback,
  RESERVE_HOLD_WINDOWS,
  reservedSlots,
} from '../ports/rate-budget.ts';

/**
 * Creates the rate-budget table (on-demand billing, TTL on `expiresAt`) and waits until it is
 * active. An existing table is left as it is. Emulators without UpdateTimeToLive (dynalite) are
 * tolerated: their items simply do not expire.
 */
export async function createRateBudgetTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: rateBudgetTableSchema.keySchema.map((k) => ({ ...k })),
        AttributeDefinitions: rateBudgetTableSchema.attributeDefinitions.map((a) => ({ ...a })),
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: tableName });
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: rateBudgetTableSchema.timeToLiveAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    // Already enabled (ValidationException) or not implemented by a local emulator.
    if (name !== 'ValidationException' && name !== 'UnknownOperationException') throw error;
  }
}

export interface DynamoDbRateBudgetOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** The Amigo user whose limits are shared; part of every key. */
  readonly userId: string;
  readonly limits: Readonly<Record<OperationId, RateLimit>>;
  readonly clock?: Clock;
  /**
   * The longest a call may take from its slot (the value `acquire` resolves with) to its arrival at
   * the server; every slot occupies the window for window + this (see the file header).
   * @default 5% of the window, at least 5 ms
   */
  readonly maxTransitMs?: number;
  /** How long an item outlives its last slot or block before TTL removes it. @default 1 hour */
  readonly idleTtlMs?: number;
  /** Lost races in a row before an acquire gives up with a RetryableError. @default 100 */
  readonly maxConflicts?: number;
  /** The share of each limit kept for high-class callers (see the file header). @default 0.2 */
  readonly reserveShare?: number;
}

/** Counters for metrics and benchmarks. */
export interface RateBudgetStats {
  reads: number;
  writes: number;
  conflicts: number;
  /** Slots given back because the storage or a timer answered later than maxTransitMs/4 allows. */
  late: number;
  errors: number;
}

interface BudgetItem {
  /** Version token of the stored item; undefined when there is none. */
  readonly version: string | undefined;
  /** Slot times in epoch ms, ascending. */
  readonly slots: readonly number[];
  readonly blockedUntil: number;
  /** Server-reported limit below the configured one. */
  readonly limit: number | undefined;
  /** When a high-class caller last reserved a slot (epoch ms); 0 when never. */
  readonly highAt: number;
}

interface Reservation {
  readonly priority: Priority;
  /** A slot of the same caller that this reservation gives back (it fell inside a block). */
  readonly replaces: number | undefined;
  abandoned: boolean;
  resolve(slot: number): void;
  reject(reason: unknown): void;
}

interface ForeignUse {
  readonly at: number;
  readonly used: number;
  readonly exhausted: boolean;
  readonly resetAtMs: number | undefined;
}

interface WindowDeps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly key: string;
  readonly rate: RateLimit;
  readonly clock: Clock;
  readonly maxTransitMs: number;
  readonly idleTtlMs: number;
  readonly maxConflicts: number;
  readonly reserveShare: number;
  readonly stats: RateBudgetStats;
}

const EMPTY: BudgetItem = { version: undefined, slots: [], blockedUntil: 0, limit: undefined, highAt: 0 };

/** Index of the first element of `sorted` greater than `value`. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when inserting `t` keeps every `limit + 1` consecutive slots at least `span` apart. */
function fits(slots: readonly number[], t: number, limit: number, span: number): boolean {
  const p = upperBound(slots, t);
  const at = (j: number): number => (j < p ? slots[j] : j === p ? t : slots[j - 1]) as number;
  const last = slots.length; // index of the last element once t is inserted
  for (let i = Math.max(0, p - limit); i <= p && i + limit <= last; i++) {
    if (at(i + limit) - at(i) < span) return false;
  }
  return true;
}

/**
 * The earliest time >= `from` at which a call fits: with it, no window of length `span` holds more
 * than `limit` slots. Exported for tests.
 */
export function earliestSlot(slots: readonly number[], from: number, limit: number, span: number): number {
  // Feasibility only changes where t meets a slot or a slot + span, so those are the candidates.
  const candidates = [from];
  for (const s of slots) {
    if (s >= from) candidates.push(s);
    if (s + span >= from) candidates.push(s + span);
  }
  candidates.sort((a, b) => a - b);
  for (const t of candidates) if (fits(slots, t, limit, span)) return t;
  return Math.max(from, (slots[slots.length - 1] ?? from) + span);
}

function insertSorted(slots: number[], t: number): void {
  slots.splice(upperBound(slots, t), 0, t);
}

function removeOne(slots: number[], t: number): void {
  const i = slots.lastIndexOf(t);
  if (i >= 0) slots.splice(i, 1);
}

function num(value: AttributeValue | undefined): number | undefined {
  if (value?.N === undefined) return undefined;
  const n = Number(value.N);
  return Number.isFinite(n) ? n : undefined;
}

function itemFrom(raw: Record<string, AttributeValue> | undefined): BudgetItem {
  if (!raw) return EMPTY;
  const slots = (raw.g?.L ?? [])
    .map((v) => num(v))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  return {
    version: raw.v?.S,
    slots,
    blockedUntil: num(raw.bu) ?? 0,
    limit: num(raw.lim),
    highAt: num(raw.hi) ?? 0,
  };
}

class SharedWindow {
  private item: BudgetItem | undefined;
  private readonly queue: Reservation[] = [];
  private readonly releases: number[] = [];
  /** Block known here (observed or read); written to the item when `blockToWrite`. */
  private blockedUntil = 0;
  private blockToWrite = false;
  /** A server-reported limit to store: a number, null to restore the configured limit. */
  private limitToWrite: number | null | undefined;
  private foreign: ForeignUse | undefined;
  private writing: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private storeLatency = 0;
  private lastForeignCheck = Number.NEGATIVE_INFINITY;
  private readonly d: WindowDeps;

  constructor(deps: WindowDeps) {
    this.d = deps;
  }

  /** How long a slot occupies the window. */
  private span(): number {
    return this.d.rate.windowMs + this.d.maxTransitMs;
  }

  /** How late after its slot a call may still start; a later one reserves again. */
  private lateness(): number {
    return Math.max(1, Math.floor(this.d.maxTransitMs / 4));
  }

  private limitOf(item: BudgetItem): number {
    const configured = this.d.rate.limit;
    if (this.limitToWrite !== undefined) return this.limitToWrite ?? configured;
    return Math.min(configured, item.limit ?? configured);
  }

  async acquire(signal: AbortSignal | undefined, priority: Priority): Promise<number> {
    signal?.throwIfAborted();
    const clock = this.d.clock;
    let replaces: number | undefined;
    for (;;) {
      const slot = await this.reserve(replaces, signal, priority);
      replaces = undefined;
      try {
        let now = clock.now();
        if (slot - now > this.lateness()) {
          // A reservation ahead: wake a storage round trip early and re-read the item, so that a
          // block set meanwhile by another process is honoured.
          const lead = Math.min(slot - now, Math.ceil(this.storeLatency) + 2);
          await clock.sleep(slot - now - lead, signal);
          await this.refresh();
          now = clock.now();
        }
        const blocked = Math.max(this.blockedUntil, this.item?.blockedUntil ?? 0);
        if (blocked > slot && blocked > now) {
          replaces = slot;
          continue;
        }
        while (slot > now) {
          await clock.sleep(slot - now, signal);
          now = clock.now();
        }
        if (now - slot > this.lateness()) {
          // The write or the timer came back too late to start within the bound: start over.
          this.d.stats.late++;
          replaces = slot;
          continue;
        }
        return slot;
      } catch (error) {
        this.release(slot);
        throw error;
      }
    }
  }

  observe(feedback: RateFeedback): void {
    const now = this.d.clock.now();
    let write = false;
    // The server did not count a call it answered 429: its slot is free again (written together
    // with the block below, so that no other process can take it before the block is stored).
    if (
      feedback.status === 429 &&
      feedback.grantedAt !== undefined &&
      feedback.grantedAt > now - this.span()
    ) {
      this.releases.push(feedback.grantedAt);
      write = true;
    }
    if (feedback.limit !== undefined && feedback.limit > 0) {
      const configured = this.d.rate.limit;
      const reported = feedback.limit < configured ? feedback.limit : null;
      const current = this.limitToWrite !== undefined ? this.limitToWrite : (this.item?.limit ?? null);
      if (reported !== current) {
        this.limitToWrite = reported;
        write = true;
      }
    }
    if (feedback.status === 429) {
      const until =
        feedback.retryAfterMs !== undefined
          ? now + feedback.retryAfterMs
          : (feedback.resetAtMs ??
            now + this.d.rate.windowMs / Math.max(1, this.limitOf(this.item ?? EMPTY)));
      if (until > Math.max(this.blockedUntil, this.item?.blockedUntil ?? 0)) {
        this.blockedUntil = until;
        this.blockToWrite = true;
        write = true;
      }
    } else if (feedback.limit !== undefined && feedback.remaining !== undefined) {
      const used = feedback.limit - feedback.remaining;
      const item = this.item ?? EMPTY;
      const span = this.span();
      const known = item.slots.filter((s) => s > now - span && s <= now).length;
      // Checked again against a fresh read (at most every quarter window) before anything is written.
      if (used > known && now - this.lastForeignCheck >= span / 4) {
        this.lastForeignCheck = now;
        this.foreign = {
          at: now,
          used,
          exhausted: feedback.remaining <= 0,
          resetAtMs: feedback.resetAtMs,
        };
        write = true;
      }
    }
    if (write) this.kick();
  }

  /** Resolves when no write is running or due. */
  async flush(): Promise<void> {
    while (this.writing || this.refreshing) {
      await this.writing;
      await this.refreshing;
    }
  }

  private release(slot: number): void {
    if (slot <= this.d.clock.now() - this.span()) return;
    this.releases.push(slot);
    this.kick();
  }

  private reserve(
    replaces: number | undefined,
    signal: AbortSignal | undefined,
    priority: Priority,
  ): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        reservation.abandoned = true;
        reject(signal?.reason);
      };
      const reservation: Reservation = {
        priority,
        replaces,
        abandoned: false,
        resolve: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
        reject: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      if (signal?.aborted) {
        if (replaces !== undefined) this.release(replaces);
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(reservation);
      this.kick();
    });
  }

  private hasWork(): boolean {
    return (
      this.queue.length > 0 ||
      this.releases.length > 0 ||
      this.blockToWrite ||
      this.limitToWrite !== undefined ||
      this.foreign !== undefined
    );
  }

  /** Starts the single write loop of this key, unless it runs already (it picks new work up). */
  private kick(): void {
    if (this.writing) return;
    this.writing = this.writeLoop()
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.writing = undefined;
        if (this.hasWork()) this.kick();
      });
  }

  private async writeLoop(): Promise<void> {
    const { clock, rate } = this.d;
    let conflicts = 0;
    let freshRead = false;
    for (;;) {
      if (!this.hasWork()) return;
      try {
        // Foreign use is judged against the fresh item: a stale view would see others' calls as foreign.
        if ((this.foreign !== undefined && !freshRead) || !this.item) {
          this.item = await this.read();
          freshRead = true;
        }
      } catch (error) {
        this.fail(error);
        return;
      }
      const base = this.item;
      // Abandoned reservations leave the queue; a slot they replaced is given back.
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const r = this.queue[i] as Reservation;
        if (!r.abandoned) continue;
        this.queue.splice(i, 1);
        if (r.replaces !== undefined) this.releases.push(r.replaces);
      }
      // High-class reservations first: the slots are handed out greedily in batch order.
      const batch = [
        ...this.queue.filter((r) => r.priority === 'high'),
        ...this.queue.filter((r) => r.priority !== 'high'),
      ];
      const releases = this.releases.slice();
      const limitToWrite = this.limitToWrite;
      const foreign = this.foreign;
      const now = clock.now();
      const span = this.span();
      const limit = this.limitOf(base);
      const horizon = Math.max(2 * rate.windowMs, span);

      const slots = base.slots.filter((s) => s > now - horizon);
      for (const s of releases) removeOne(slots, s);
      for (const r of batch) if (r.replaces !== undefined) removeOne(slots, r.replaces);
      // Local knowledge of a block always counts (and is shared when anything is written).
      let blockedUntil = Math.max(base.blockedUntil, this.blockedUntil);
      let phantoms = 0;
      if (foreign) {
        const known = slots.filter((s) => s > foreign.at - span && s <= foreign.at).length;
        const extra = Math.min(limit, foreign.used) - known;
        for (let i = 0; i < extra; i++) insertSorted(slots, foreign.at);
        phantoms = Math.max(0, extra);
        if (extra > 0 && foreign.exhausted && foreign.resetAtMs !== undefined) {
          blockedUntil = Math.max(blockedUntil, foreign.resetAtMs);
        }
      }
      // A slot no earlier than the write can return, so that the call starts close to it.
      const from = Math.max(now + Math.ceil(this.storeLatency), blockedUntil);
      const highAt = batch.some((r) => r.priority === 'high') ? Math.max(base.highAt, now) : base.highAt;
      const reserve =
        highAt + RESERVE_HOLD_WINDOWS * rate.windowMs > now ? reservedSlots(limit, this.d.reserveShare) : 0;
      const granted = batch.map((r) => {
        const t = earliestSlot(slots, from, r.priority === 'high' ? limit : limit - reserve, span);
        insertSorted(slots, t);
        return t;
      });
      const storedLimit = limitToWrite !== undefined ? (limitToWrite ?? undefined) : base.limit;
      const next: BudgetItem = { version: randomUUID(), slots, blockedUntil, limit: storedLimit, highAt };
      const changed =
        batch.length > 0 ||
        releases.length > 0 ||
        phantoms > 0 ||
        blockedUntil > base.blockedUntil ||
        storedLimit !== base.limit;
      if (!changed) {
        this.settle(releases.length, limitToWrite, foreign, base);
        continue;
      }

      const started = clock.now();
      try {
        await this.write(base, next);
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) {
          conflicts++;
          this.d.stats.conflicts++;
          // Real DynamoDB returns the current item (ALL_OLD); emulators may not.
          this.item = error.Item ? itemFrom(error.Item) : undefined;
          freshRead = error.Item !== undefined;
          if (conflicts >= this.d.maxConflicts) {
            this.fail(
              new RetryableError('Too many concurrent updates of the shared rate budget', {
                context: { table: this.d.tableName, key: this.d.key, conflicts },
                hint: 'Raise maxConflicts or reduce the number of concurrent callers',
              }),
            );
            return;
          }
          if (conflicts >= 3) {
            // Many writers keep colliding: spread them out.
            await clock.sleep(Math.random() * Math.min(50, conflicts * Math.max(1, this.storeLatency)));
          }
          continue;
        }
        this.item = undefined;
        this.fail(error);
        return;
      }
      this.noteStoreLatency(clock.now() - started);
      conflicts = 0;
      freshRead = true; // what was just written is the current item
      this.settle(releases.length, limitToWrite, foreign, next);
      // New reservations were only appended meanwhile, so the batch is still the queue's head (in another order).
      this.queue.splice(0, batch.length);
      batch.forEach((r, i) => {
        const slot = granted[i] as number;
        if (r.abandoned) this.releases.push(slot);
        else r.resolve(slot);
      });
    }
  }

  /** Clears the background work that `item` (now stored) has taken care of. */
  private settle(
    releases: number,
    limitToWrite: number | null | undefined,
    foreign: ForeignUse | undefined,
    item: BudgetItem,
  ): void {
    this.item = item;
    this.blockedUntil = Math.max(this.blockedUntil, item.blockedUntil);
    if (this.blockedUntil <= item.blockedUntil) this.blockToWrite = false;
    if (this.limitToWrite === limitToWrite) this.limitToWrite = undefined;
    if (this.foreign === foreign) this.foreign = undefined;
    this.releases.splice(0, releases);
  }

  /** Rejects every waiting caller and drops pending background writes. */
  private fail(cause: unknown): void {
    this.d.stats.errors++;
    const error =
      cause instanceof RetryableError
        ? cause
        : new RetryableError('The shared rate budget could not be read or written', {
            cause,
            context: { table: this.d.tableName, key: this.d.key },
            hint: 'Check that the DynamoDB table exists and the function may read and write it',
          });
    for (const r of this.queue.splice(0)) if (!r.abandoned) r.reject(error);
    this.releases.splice(0);
    this.blockToWrite = false;
    this.limitToWrite = undefined;
    this.foreign = undefined;
  }

  /** Re-reads the item (one read at a time per key); failures leave the cached view in place. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.read()
      .then(
        (fresh) => {
          this.item = fresh;
        },
        () => undefined,
      )
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private noteStoreLatency(ms: number): void {
    this.storeLatency = Math.max(this.storeLatency * 0.9, ms);
  }

  private async read(): Promise<BudgetItem> {
    const started = this.d.clock.now();
    this.d.stats.reads++;
    const out = await this.d.client.send(
      new GetItemCommand({
        TableName: this.d.tableName,
        Key: { pk: { S: this.d.key } },
        ConsistentRead: true,
      }),
    );
    this.noteStoreLatency(this.d.clock.now() - started);
    return itemFrom(out.Item);
  }

  private async write(base: BudgetItem, next: BudgetItem): Promise<void> {
    this.d.stats.writes++;
    const lastUse = Math.max(next.slots[next.slots.length - 1] ?? 0, next.blockedUntil, this.d.clock.now());
    const expiresAt = Math.ceil((lastUse + 2 * this.d.rate.windowMs + this.d.idleTtlMs) / 1000);
    const item: Record<string, AttributeValue> = {
      pk: { S: this.d.key },
      v: { S: next.version as string },
      g: { L: next.slots.map((s) => ({ N: String(s) })) },
      bu: { N: String(next.blockedUntil) },
      [rateBudgetTableSchema.timeToLiveAttribute]: { N: String(expiresAt) },
    };
    if (next.limit !== undefined) item.lim = { N: String(next.limit) };
    if (next.highAt > 0) item.hi = { N: String(next.highAt) };
    await this.d.client.send(
      new PutItemCommand({
        TableName: this.d.tableName,
        Item: item,
        ...(base.version === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': { S: base.version } } }),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  }
}

/**
 * 5% of the window, at least 5 ms: smaller than the in-process budget's 25% (shared/amigo/rate-limit.ts)
 * on purpose. Here every slot occupies window + margin whether or not the call is answered early
 * (shortening it would cost a write per call), so the margin is paid on every call: waiting work
 * runs at window / (window + margin), 95% of the limit at 5% but 80% at 25%. In process, an answered
 * call's slot moves back to its response time, so a large margin costs next to nothing there. 5%
 * still leaves a call a quarter of it to start after its slot and the rest for the network (3.75%
 * of the window: 2.25 s for a per-minute limit).
 */
function defaultMaxTransitMs(rate: RateLimit): number {
  return Math.max(5, Math.round(rate.windowMs * 0.05));
}

/** A {@link RateBudget} shared through DynamoDB by every process acting for one Amigo user. */
export class DynamoDbRateBudget implements RateBudget {
  readonly stats: RateBudgetStats = { reads: 0, writes: 0, conflicts: 0, late: 0, errors: 0 };
  private readonly windows = new Map<OperationId, SharedWindow>();
  private readonly options: DynamoDbRateBudgetOptions;

  constructor(options: DynamoDbRateBudgetOptions) {
    if (!options.userId) {
      throw new ConfigurationError('userId', 'is empty', 'Set the Amigo user id whose limits are shared');
    }
    if (!options.tableName) {
      throw new ConfigurationError('tableName', 'is empty', 'Name the DynamoDB rate-budget table');
    }
    this.options = options;
  }

  /** Resolves when one call may start, with its slot (epoch ms, at most maxTransitMs/4 ago). */
  acquire(operationId: OperationId, signal?: AbortSignal, priority: Priority = 'high'): Promise<number> {
    return this.window(operationId).acquire(signal, priority);
  }

  observe(operationId: OperationId, feedback: RateFeedback): void {
    this.window(operationId).observe(feedback);
  }

  /** Waits for background writes (blocks, limits, returned slots) to land; call before returning. */
  async flush(): Promise<void> {
    await Promise.all([...this.windows.values()].map((w) => w.flush()));
  }

  private window(operationId: OperationId): SharedWindow {
    let w = this.windows.get(operationId);
    if (!w) {
      const rate = this.options.limits[operationId];
      if (!rate) {
        throw new ConfigurationError(`limits.${operationId}`, 'is missing', 'Give every operation a limit');
      }
      w = new SharedWindow({
        client: this.options.client,
        tableName: this.options.tableName,
        key: `${this.options.userId}#${operationId}`,
        rate,
        clock: this.options.clock ?? systemClock,
        maxTransitMs: this.options.maxTransitMs ?? defaultMaxTransitMs(rate),
        idleTtlMs: this.options.idleTtlMs ?? 3_600_000,
        maxConflicts: this.options.maxConflicts ?? 100,
        reserveShare: this.options.reserveShare ?? DEFAULT_RESERVE_SHARE,
        stats: this.stats,
      });
      this.windows.set(operationId, w);
    }
    return w;
  }
}
