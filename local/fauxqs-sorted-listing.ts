// A LIST for fauxqs's S3 that does not scan the bucket. fauxqs 2.4.1's `S3Store.listObjects` filters
// and sorts every object in the bucket for every page (`Array.from(...).filter(...).sort(localeCompare)`),
// so past ~100,000 objects each page costs tens of milliseconds of the one event loop the local
// runner, the tests and the week bench share (docs/local-aws-findings.md). This keeps each bucket's
// keys in a sorted array, updated as objects are set and deleted, and answers a page by binary search.
//
// It also orders keys by UTF-16 code unit, S3's UTF-8 byte order for every key without astral
// characters, where fauxqs sorts by `localeCompare` but starts each page after the last key by `<=`:
// two orders that disagree ("B" before "a" in S3, after it in the locale), so a page boundary between
// such keys skipped or repeated some on fauxqs. Left as fauxqs has it: the route's next token is the
// page's last object key even when a common prefix sorts after it (with a delimiter, that prefix comes
// again on the next page); nothing here lists with a delimiter. Tied to fauxqs 2.4.1's store internals (`buckets`, `listObjects`), pinned
// exactly in package.json.

export interface ListableObject {
  readonly key: string;
}

export interface ListOptions {
  readonly prefix?: string;
  readonly delimiter?: string;
  readonly maxKeys?: number;
  readonly startAfter?: string;
  readonly marker?: string;
}

export interface ListResult<T> {
  objects: T[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

/** The part of fauxqs's `S3Store` this replaces. */
export interface ListingStore<T extends ListableObject> {
  buckets: Map<string, Map<string, T>>;
  listObjects(bucket: string, options?: ListOptions): ListResult<T>;
}

/** A map of one bucket's objects that keeps its keys sorted by code unit. */
export class SortedKeyMap<T> extends Map<string, T> {
  #sorted: string[] = [];

  // biome-ignore lint/complexity/noUselessConstructor: it takes no entries (Map's constructor would call `set` before `#sorted` exists): use `from`
  constructor() {
    super();
  }

  /** A copy of `objects`, its keys sorted once (a bucket loaded from disk holds them unordered). */
  static from<T>(objects: ReadonlyMap<string, T>): SortedKeyMap<T> {
    const sorted = new SortedKeyMap<T>();
    for (const [key, value] of objects) Map.prototype.set.call(sorted, key, value);
    // The default sort compares code units, as `<` does.
    sorted.#sorted = [...objects.keys()].sort();
    return sorted;
  }

  override set(key: string, value: T): this {
    if (!this.has(key)) this.#sorted.splice(lowerBound(this.#sorted, key), 0, key);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    this.#sorted.splice(lowerBound(this.#sorted, key), 1);
    return true;
  }

  override clear(): void {
    this.#sorted.length = 0;
    super.clear();
  }

  /** The keys in order (a live view: do not change it). */
  sortedKeys(): readonly string[] {
    return this.#sorted;
  }
}

/**
 * Make `store`'s LIST use sorted keys: every bucket's map, present and future, becomes a
 * `SortedKeyMap`, and `listObjects` walks it from the first key after the start.
 */
export function indexS3Listing<T extends ListableObject>(store: ListingStore<T>): void {
  const buckets = new SortedBuckets<T>();
  for (const [name, objects] of store.buckets) buckets.set(name, objects);
  store.buckets = buckets;
  const scanning = store.listObjects.bind(store);
  store.listObjects = (bucket, options) => {
    const objects = store.buckets.get(bucket);
    // fauxqs's own answer for a bucket that does not exist (NoSuchBucket).
    if (!objects) return scanning(bucket, options);
    return listSorted(objects as SortedKeyMap<T>, options);
  };
}

/** Buckets whose object maps are `SortedKeyMap`s, whoever creates them. */
class SortedBuckets<T> extends Map<string, Map<string, T>> {
  override set(name: string, objects: Map<string, T>): this {
    return super.set(name, objects instanceof SortedKeyMap ? objects : SortedKeyMap.from(objects));
  }
}

/** fauxqs's page semantics (counting common prefixes toward `maxKeys`), over sorted keys. */
export function listSorted<T>(objects: SortedKeyMap<T>, options: ListOptions = {}): ListResult<T> {
  const prefix = options.prefix ?? '';
  const delimiter = options.delimiter || undefined;
  const maxKeys = options.maxKeys ?? 1000;
  const startAfter = options.startAfter ?? options.marker ?? '';
  const keys = objects.sortedKeys();
  const result: T[] = [];
  const commonPrefixes: string[] = [];
  let count = 0;
  let isTruncated = false;
  let i = Math.max(lowerBound(keys, prefix), startAfter ? upperBound(keys, startAfter) : 0);
  while (i < keys.length) {
    const key = keys[i] as string;
    if (!key.startsWith(prefix)) break;
    if (delimiter) {
      const at = key.indexOf(delimiter, prefix.length);
      if (at >= 0) {
        const common = key.slice(0, at + delimiter.length);
        // Every key under `common` rolls up into it: go past them in one step.
        const next = pastPrefix(keys, i, common);
        if (startAfter && common <= startAfter) {
          i = next;
          continue;
        }
        if (count >= maxKeys) {
          isTruncated = true;
          break;
        }
        commonPrefixes.push(common);
        count++;
        i = next;
        continue;
      }
    }
    if (count >= maxKeys) {
      isTruncated = true;
      break;
    }
    result.push(objects.get(key) as T);
    count++;
    i++;
  }
  return { objects: result, commonPrefixes, isTruncated };
}

/** The index of the first key from `from` on that does not start with `prefix` (not empty). */
function pastPrefix(keys: readonly string[], from: number, prefix: string): number {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (last === 0xffff) {
    let i = from;
    while (i < keys.length && (keys[i] as string).startsWith(prefix)) i++;
    return i;
  }
  // The least string above every string that starts with `prefix`.
  return lowerBound(keys, prefix.slice(0, -1) + String.fromCharCode(last + 1));
}

/** The first index whose key is not below `key` (`after`: not at or below it). */
function bound(keys: readonly string[], key: string, after = false): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as string;
    if (k < key || (after && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(keys: readonly string[], key: string): number {
  return bound(keys, key);
}

function upperBound(keys: readonly string[], key: string): number {
  return bound(keys, key, true);
}
