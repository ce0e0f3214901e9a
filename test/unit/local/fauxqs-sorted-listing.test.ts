import { describe, expect, it } from 'vitest';
import { loadInternals } from '../../../local/fauxqs.ts';
import { indexS3Listing, type ListingStore, type ListOptions } from '../../../local/fauxqs-sorted-listing.ts';
import { createRng, type Rng } from '../../../sim/prng.ts';

type Obj = { key: string };
type Store = ListingStore<Obj> & {
  createBucket(name: string): void;
  putObject(bucket: string, key: string, body: Buffer, contentType?: string): unknown;
  deleteObject(bucket: string, key: string): void;
};

const BUCKET = 'archive';

async function newStore(): Promise<Store> {
  const { S3Store } = await loadInternals();
  const store = new S3Store() as unknown as Store;
  store.createBucket(BUCKET);
  return store;
}

// Keys over an alphabet whose locale order (fauxqs's sort) and code-unit order (S3's) agree, so
// fauxqs's own scan is the reference; where they disagree, S3's order is tested on its own below.
const ALPHABET = ['a', 'b', '0', '/'];
function randomKey(rng: Rng): string {
  return Array.from({ length: rng.int(1, 7) }, () => ALPHABET[rng.int(0, ALPHABET.length - 1)]).join('');
}

function randomOptions(rng: Rng): ListOptions {
  return {
    prefix: rng.chance(0.6) ? randomKey(rng).slice(0, rng.int(1, 3)) : '',
    ...(rng.chance(0.5) ? { delimiter: rng.chance(0.8) ? '/' : 'b' } : {}),
    maxKeys: rng.int(0, 12),
    ...(rng.chance(0.5) ? { startAfter: randomKey(rng) } : {}),
  };
}

function keysOf(result: { objects: Obj[]; commonPrefixes: string[]; isTruncated: boolean }) {
  return {
    keys: result.objects.map((o) => o.key),
    prefixes: result.commonPrefixes,
    truncated: result.isTruncated,
  };
}

describe('fauxqs LIST from sorted keys', () => {
  it('when keys are put and deleted at random, then every page equals what fauxqs`s own scan answers', async () => {
    // Arrange
    const scanning = await newStore();
    const indexed = await newStore();
    indexS3Listing(indexed);
    const rng = createRng('sorted-listing');

    for (let step = 0; step < 3_000; step++) {
      // Act
      const key = randomKey(rng);
      if (rng.chance(0.3)) {
        scanning.deleteObject(BUCKET, key);
        indexed.deleteObject(BUCKET, key);
      } else {
        scanning.putObject(BUCKET, key, Buffer.from(key));
        indexed.putObject(BUCKET, key, Buffer.from(key));
      }
      const options = randomOptions(rng);

      // Assert
      expect(keysOf(indexed.listObjects(BUCKET, options)), JSON.stringify(options)).toEqual(
        keysOf(scanning.listObjects(BUCKET, options)),
      );
    }
  });

  it('when keys differ in case and punctuation, then they list in S3`s code-unit order, each once across pages', async () => {
    // Arrange: fauxqs's locale order puts "a" before "B" and "a_b" before "a-b"; S3 orders by bytes.
    const store = await newStore();
    indexS3Listing(store);
    const keys = ['a', 'B', 'a-b', 'a_b', 'day=1/x', 'day=1.x', 'p/a=1', 'p/a0', 'Z9', 'z'];
    for (const key of keys) store.putObject(BUCKET, key, Buffer.from(key));

    // Act: two keys a page, each page starting after the last key of the one before
    const listed: string[] = [];
    let startAfter = '';
    for (;;) {
      const page = store.listObjects(BUCKET, { maxKeys: 2, startAfter });
      listed.push(...page.objects.map((o) => o.key));
      if (!page.isTruncated) break;
      startAfter = listed.at(-1) as string;
    }

    // Assert
    expect(listed).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('when a bucket is created after indexing or loaded before it, then both list from the index', async () => {
    // Arrange
    const store = await newStore();
    store.putObject(BUCKET, 'before/1', Buffer.from('x'));
    indexS3Listing(store);
    store.createBucket('later');
    store.putObject('later', 'after/1', Buffer.from('x'));
    store.putObject(BUCKET, 'before/0', Buffer.from('x'));

    // Act
    const first = store.listObjects(BUCKET, { prefix: 'before/' });
    const second = store.listObjects('later', {});

    // Assert
    expect(first.objects.map((o) => o.key)).toEqual(['before/0', 'before/1']);
    expect(second.objects.map((o) => o.key)).toEqual(['after/1']);
  });

  it('when the bucket does not exist, then the answer is fauxqs`s NoSuchBucket', async () => {
    // Arrange
    const store = await newStore();
    indexS3Listing(store);

    // Act / Assert
    expect(() => store.listObjects('missing', {})).toThrow(/does not exist/);
  });
});
