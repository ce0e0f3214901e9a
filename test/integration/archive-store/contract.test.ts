// One contract for the ArchiveStore port, run against both adapters over real I/O:
// - S3ArchiveStore over the AWS SDK against the embedded fauxqs, THROUGH test/support/conditional-s3-proxy.ts:
//   fauxqs ignores If-None-Match / If-Match (emulator-gap.test.ts shows it), so without the proxy the
//   create-only and compare-and-swap tests below would pass falsely.
// - FsArchiveStore on a temp folder.
// Each test works under its own key namespace, so tests do not see each other's objects.
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import { PermanentError, RetryableError } from '../../../shared/errors.ts';
import { type ArchiveStore, PreconditionFailedError } from '../../../shared/ports/archive-store.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from '../../support/conditional-s3-proxy.ts';

const MiB = 1024 * 1024;

interface Backend {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A new adapter instance over the same storage, as another writer (process) would have. */
  open(): ArchiveStore;
  /** Half-written leftovers (open multipart uploads, temp files): none may remain after a failure. */
  leftovers(): Promise<string[]>;
}

class S3Backend implements Backend {
  readonly name = 'S3ArchiveStore (fauxqs behind the conditional-write proxy)';
  readonly bucket = 'archive-contract';
  aws!: LocalAws;
  proxy!: ConditionalS3Proxy;
  client!: S3Client;

  async start(): Promise<void> {
    this.aws = await startLocalAws();
    this.proxy = await startConditionalS3Proxy(this.aws.endpoint);
    this.client = this.aws.s3({ endpoint: this.proxy.endpoint });
    await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
  }
  async stop(): Promise<void> {
    await this.proxy?.stop();
    await this.aws?.stop();
  }
  open(): ArchiveStore {
    return new S3ArchiveStore({ client: this.client, bucket: this.bucket, prefix: 'archive' });
  }
  async leftovers(): Promise<string[]> {
    // fauxqs has no ListMultipartUploads; the proxy counts the multipart calls that went through.
    const { created, completed, aborted } = this.proxy.stats.multipart;
    const open = created - completed - aborted;
    return open === 0 ? [] : [`${open} multipart upload(s) neither completed nor aborted`];
  }
}

class FsBackend implements Backend {
  readonly name = 'FsArchiveStore (temp folder)';
  root = '';

  async start(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'archive-contract-'));
  }
  async stop(): Promise<void> {
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }
  open(): ArchiveStore {
    return new FsArchiveStore(this.root);
  }
  async leftovers(): Promise<string[]> {
    const all = (await readdir(this.root, { recursive: true })) as string[];
    return all.filter((p) => /(^|\/)\.~(tmp|lock)\./.test(p));
  }
}

// ---- generated data ----

/** Deterministic pseudo-random bytes (xorshift32), `size` bytes in 1 MiB chunks; fails after `failAfter`. */
function generated(size: number, seed: number, failAfter?: number): Readable {
  let state = seed >>> 0 || 1;
  let produced = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && produced >= failAfter) {
        this.destroy(new Error(`source failed after ${produced} bytes`));
        return;
      }
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(MiB, size - produced);
      const words = new Uint32Array(Math.ceil(length / 4));
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state >>> 0;
      }
      produced += length;
      this.push(Buffer.from(words.buffer, 0, length));
    },
  });
}

async function digest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}

async function collect(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of iterable) keys.push(o.key);
  return keys;
}

function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

function unquoted(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

const s3Backend = new S3Backend();
const fsBackend = new FsBackend();

describe.each<Backend>([s3Backend, fsBackend])('ArchiveStore contract: $name', (backend) => {
  let store: ArchiveStore;
  let ns: string;
  beforeAll(async () => {
    await backend.start();
    store = backend.open();
  });
  afterAll(async () => {
    await backend.stop();
  });
  const fresh = (): string => {
    ns = `t-${randomUUID().slice(0, 8)}`;
    return ns;
  };

  it('when an object is put, then get, head and getStream return its bytes and the same etag', async () => {
    const key = `${fresh()}/conversations/c1.json`;
    const body = JSON.stringify({ id: 'c1', text: 'héllo' });

    const stored = await store.put(key, body, { contentType: 'application/json' });
    const got = await store.get(key);
    const head = await store.head(key);
    const streamed = await store.getStream(key);
    const streamedText = streamed ? Buffer.concat(await streamed.toArray()).toString('utf8') : undefined;

    expect(stored).toEqual({ key, size: Buffer.byteLength(body), etag: expect.stringMatching(/^".+"$/) });
    expect(got?.body.toString('utf8')).toBe(body);
    expect(got?.etag).toBe(stored.etag);
    expect(head).toEqual(stored);
    expect(streamedText).toBe(body);
  });

  it('when a single-part object is put, then its etag is the quoted md5 of the bytes', async () => {
    const key = `${fresh()}/md5.bin`;
    const body = new Uint8Array([0, 1, 2, 250, 251, 255]);

    const stored = await store.put(key, body);

    expect(stored.etag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
  });

  it('when an object is deleted, then get, head and getStream answer undefined and a second delete is fine', async () => {
    const key = `${fresh()}/to-delete.txt`;
    await store.put(key, 'bye');

    await store.delete(key);

    expect(await store.get(key)).toBeUndefined();
    expect(await store.head(key)).toBeUndefined();
    expect(await store.getStream(key)).toBeUndefined();
    await expect(store.delete(key)).resolves.toBeUndefined();
  });

  it('when a key was never written, then get, head and getStream answer undefined', async () => {
    const key = `${fresh()}/never.json`;

    const results = await Promise.all([store.get(key), store.head(key), store.getStream(key)]);

    expect(results).toEqual([undefined, undefined, undefined]);
  });

  it('when a create-only write hits an existing key, then it fails with PreconditionFailedError and the original is kept', async () => {
    const key = `${fresh()}/create-only.json`;
    const first = await store.put(key, 'original', { ifNoneMatch: '*' });

    const second = store.put(key, 'overwrite', { ifNoneMatch: '*' });

    await expect(second).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(second).rejects.toMatchObject({
      context: { key, condition: 'if-none-match' },
      retryable: false,
    });
    expect((await store.get(key))?.body.toString()).toBe('original');
    expect((await store.head(key))?.etag).toBe(first.etag);
  });

  it('when a compare-and-swap write names the current etag, then it replaces the object and returns a new etag', async () => {
    const key = `${fresh()}/cas.json`;
    const v1 = await store.put(key, 'v1');

    const v2 = await store.put(key, 'v2', { ifMatch: v1.etag });

    expect(v2.etag).not.toBe(v1.etag);
    expect((await store.get(key))?.body.toString()).toBe('v2');
  });

  it('when a compare-and-swap write names a stale etag, then it fails with PreconditionFailedError and the newer object is kept', async () => {
    const key = `${fresh()}/cas-stale.json`;
    const v1 = await store.put(key, 'v1');
    await store.put(key, 'v2', { ifMatch: v1.etag });

    const stale = store.put(key, 'v3', { ifMatch: v1.etag });

    await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(stale).rejects.toMatchObject({ context: { key, condition: 'if-match' } });
    expect((await store.get(key))?.body.toString()).toBe('v2');
  });

  it('when a compare-and-swap write targets a deleted key, then it fails with PreconditionFailedError and nothing appears', async () => {
    const key = `${fresh()}/cas-gone.json`;
    const v1 = await store.put(key, 'v1');
    await store.delete(key);

    const write = store.put(key, 'v2', { ifMatch: v1.etag });

    await expect(write).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(await store.head(key)).toBeUndefined();
  });

  it('when 10 writers race compare-and-swap writes from the same etag, then exactly one wins in each of 3 rounds', async () => {
    const key = `${fresh()}/race.json`;
    await store.put(key, 'round-0');
    const writers = Array.from({ length: 10 }, () => backend.open());

    for (let round = 1; round <= 3; round++) {
      const current = await store.head(key);
      const results = await Promise.allSettled(
        writers.map((w, i) => w.put(key, `round-${round}-writer-${i}`, { ifMatch: current?.etag ?? '' })),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      const losers = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));

      expect(winners, `winners of round ${round}`).toHaveLength(1);
      expect(losers.every((e) => e instanceof PreconditionFailedError)).toBe(true);
      expect((await store.get(key))?.body.toString()).toBe(`round-${round}-writer-${winners[0]}`);
    }
  });

  it('when 10 writers race create-only writes of a new key, then exactly one wins', async () => {
    const key = `${fresh()}/create-race.json`;
    const writers = Array.from({ length: 10 }, () => backend.open());

    const results = await Promise.allSettled(
      writers.map((w, i) => w.put(key, `writer-${i}`, { ifNoneMatch: '*' })),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));

    expect(winners).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => r.reason instanceof PreconditionFailedError),
    ).toBe(true);
    expect((await store.get(key))?.body.toString()).toBe(`writer-${winners[0]}`);
  });

  it('when a 30 MiB generated stream is put, then size and sha256 are right and the stored bytes are exact', async () => {
    const key = `${fresh()}/recordings/big.bin`;
    const size = 30 * MiB;
    const expected = await digest(generated(size, 42));

    const stored = await store.putStream(key, generated(size, 42), {
      contentType: 'application/octet-stream',
    });
    const readBack = await digest((await store.getStream(key)) ?? Readable.from([]));

    expect(stored).toMatchObject({ key, size, sha256: expected.sha256 });
    expect(readBack).toEqual(expected);
    expect((await store.head(key))?.size).toBe(size);
    expect((await store.head(key))?.etag).toBe(stored.etag);
  });

  it('when the source of a streamed put fails midway, then the source error surfaces and no object or leftover remains', async () => {
    const key = `${fresh()}/recordings/broken.bin`;

    const write = store.putStream(key, generated(30 * MiB, 7, 12 * MiB));

    await expect(write).rejects.toThrow(/source failed after/);
    expect(await store.head(key)).toBeUndefined();
    expect(await collect(store.list(`${ns}/`))).toEqual([]);
    expect(await backend.leftovers()).toEqual([]);
  });

  it('when more than 1000 keys are listed by prefix, then every key under it comes once, in key order', async () => {
    const root = `${fresh()}/list`;
    const keys: string[] = ['a-b', 'a.b', 'a/b'].map((k) => `${root}/${k}`);
    for (let g = 0; g < 5; g++) {
      keys.push(`${root}/g${g}-extra`, `${root}/g${g}.json`);
      for (let n = 0; n < 201; n++) keys.push(`${root}/g${g}/${String(n).padStart(4, '0')}`);
    }
    const outside = [`${ns}/lis/x`, `${ns}/list-other`, `${ns}/listing/y`];
    const writing = Date.now();
    await inBatches([...keys, ...outside], 25, (k) => store.put(k, k));
    const written = Date.now();

    const listed = await collect(store.list(`${root}/`));
    const midSegment = await collect(store.list(`${root}/g1`));
    const sample = [];
    for await (const o of store.list(`${root}/g0-`)) sample.push(o);

    expect(keys.length).toBeGreaterThan(1000);
    expect(listed).toEqual(byteOrder(keys));
    expect(midSegment).toEqual(byteOrder(keys.filter((k) => k.startsWith(`${root}/g1`))));
    expect(midSegment).toHaveLength(203);
    expect(sample).toEqual([
      {
        key: `${root}/g0-extra`,
        size: Buffer.byteLength(`${root}/g0-extra`),
        etag: `"${createHash('md5').update(`${root}/g0-extra`).digest('hex')}"`,
        lastModified: expect.any(Number),
      },
    ]);
    // When it was written (S3 keeps whole seconds): what a reader skips older objects by.
    expect(sample[0]?.lastModified).toBeGreaterThanOrEqual(Math.floor(writing / 1000) * 1000 - 1000);
    expect(sample[0]?.lastModified).toBeLessThanOrEqual(written + 1000);
  });

  it('when a key segment has the longest allowed length (240 bytes), then put, compare-and-swap, list and delete work', async () => {
    const key = `${fresh()}/${'é'.repeat(120)}`;
    const v1 = await store.put(key, 'v1');

    const v2 = await store.put(key, 'v2', { ifMatch: v1.etag });
    const listed = await collect(store.list(`${ns}/`));
    await store.delete(key);

    expect(Buffer.byteLength(key.split('/')[1] ?? '')).toBe(240);
    expect(v2.size).toBe(2);
    expect(listed).toEqual([key]);
    expect(await store.head(key)).toBeUndefined();
  });

  it('when a prefix matches nothing, then the listing is empty', async () => {
    expect(await collect(store.list(`${fresh()}/nothing/`))).toEqual([]);
  });

  it.each([
    ['a parent segment', '../escape.json'],
    ['an absolute path', '/etc/passwd'],
    ['an empty segment', 'a//b.json'],
    ['a trailing slash', 'a/b/'],
  ])('when a key has %s, then every operation fails with a PermanentError naming it', async (_what, bad) => {
    const calls = [
      () => store.get(bad),
      () => store.head(bad),
      () => store.getStream(bad),
      () => store.put(bad, 'x'),
      () => store.putStream(bad, Readable.from([Buffer.from('x')])),
      () => store.delete(bad),
    ];

    for (const call of calls) {
      const failure = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(PermanentError);
      expect((failure as Error).message).toContain(JSON.stringify(bad));
    }
  });

  it('when a write names both ifMatch and ifNoneMatch, then it is refused as a PermanentError', async () => {
    const key = `${fresh()}/both.json`;

    const write = store.put(key, 'x', { ifMatch: '"abc"', ifNoneMatch: '*' });

    await expect(write).rejects.toBeInstanceOf(PermanentError);
    expect(await store.head(key)).toBeUndefined();
  });
});

describe('S3ArchiveStore beyond the contract', () => {
  const backend = new S3Backend();
  beforeAll(async () => {
    await backend.start();
  });
  afterAll(async () => {
    await backend.stop();
  });
  const storeWith = (client: S3Client, bucket = backend.bucket): S3ArchiveStore =>
    new S3ArchiveStore({ client, bucket, prefix: '/tenant-a/archive/' });

  it('when a prefix is configured, then location names it and objects live under it in the bucket', async () => {
    const store = storeWith(backend.client);

    await store.put('k.json', 'under the prefix');
    const raw = await backend.client.send(
      new GetObjectCommand({ Bucket: backend.bucket, Key: 'tenant-a/archive/k.json' }),
    );

    expect(store.location).toBe('s3://archive-contract/tenant-a/archive');
    expect(await raw.Body?.transformToString()).toBe('under the prefix');
    expect(await collect(store.list(''))).toEqual(['k.json']);
  });

  it('when create-only writes go through the proxy, then the proxy is what refused the second one', async () => {
    const store = storeWith(backend.client);
    const before = { ...backend.proxy.stats };
    await store.put('proxy-check.json', 'a', { ifNoneMatch: '*' });

    await expect(store.put('proxy-check.json', 'b', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );

    expect(backend.proxy.stats.conditionalWrites - before.conditionalWrites).toBe(2);
    expect(backend.proxy.stats.refused - before.refused).toBe(1);
  });

  it('when S3 answers 409 ConditionalRequestConflict twice, then the conditional write is retried and succeeds', async () => {
    const store = storeWith(backend.client);
    backend.proxy.injectErrors(2, 409, 'ConditionalRequestConflict');

    const stored = await store.put('conflict-then-ok.json', 'x', { ifNoneMatch: '*' });

    expect(stored.size).toBe(1);
    expect(backend.proxy.stats.injected).toBeGreaterThanOrEqual(2);
    expect((await store.get('conflict-then-ok.json'))?.body.toString()).toBe('x');
  });

  it('when 409 ConditionalRequestConflict persists, then the write fails with a RetryableError', async () => {
    const store = new S3ArchiveStore({ client: backend.client, bucket: backend.bucket, conflictRetries: 2 });
    backend.proxy.injectErrors(3, 409, 'ConditionalRequestConflict');

    const write = store.put('conflict-forever.json', 'x', { ifNoneMatch: '*' });

    await expect(write).rejects.toBeInstanceOf(RetryableError);
    await expect(write).rejects.toMatchObject({
      context: { code: 'ConditionalRequestConflict', status: 409 },
    });
  });

  it('when S3 throttles (503 SlowDown), then the error is a RetryableError naming operation, bucket and key', async () => {
    const store = storeWith(backend.aws.s3({ endpoint: backend.proxy.endpoint, maxAttempts: 1 }));
    backend.proxy.injectErrors(1, 503, 'SlowDown');

    const write = store.put('throttled.json', 'x');

    await expect(write).rejects.toBeInstanceOf(RetryableError);
    await expect(write).rejects.toMatchObject({
      message: expect.stringContaining('PutObject of s3://archive-contract/tenant-a/archive/throttled.json'),
      context: { operation: 'PutObject', bucket: 'archive-contract', code: 'SlowDown', status: 503 },
    });
  });

  it('when access is denied (403), then the error is a PermanentError with a hint', async () => {
    const store = storeWith(backend.client);
    backend.proxy.injectErrors(1, 403, 'AccessDenied');

    const write = store.put('denied.json', 'x');

    await expect(write).rejects.toBeInstanceOf(PermanentError);
    await expect(write).rejects.toMatchObject({
      context: { code: 'AccessDenied' },
      hint: expect.any(String),
    });
  });

  it('when the bucket does not exist, then get fails with a PermanentError naming the bucket', async () => {
    const store = storeWith(backend.client, 'no-such-bucket-here');

    const read = store.get('x.json');

    await expect(read).rejects.toBeInstanceOf(PermanentError);
    await expect(read).rejects.toThrow(/s3:\/\/no-such-bucket-here\/tenant-a\/archive\/x\.json/);
    await expect(read).rejects.toMatchObject({ context: { code: 'NoSuchBucket', operation: 'GetObject' } });
  });

  it('when an S3 call fails, then neither the message, the JSON form nor an inspection carries the credentials', async () => {
    // A made-up key id in AWS's shape (assembled so that secret scanners do not flag the source).
    const credentials = {
      accessKeyId: ['AKIA', 'EXAMPLELEAKCHECK'].join(''),
      secretAccessKey: 'wJalrXUtnFEMI-leak-check-SECRET',
    };
    const store = storeWith(backend.aws.s3({ credentials, maxAttempts: 1 }), 'no-such-bucket-here');

    const error = await store.get('x.json').then(
      () => undefined,
      (e: unknown) => e,
    );
    const renderings = [
      String(error),
      JSON.stringify(error),
      inspect(error, { depth: 10, showHidden: true }),
    ];

    expect(error).toBeInstanceOf(PermanentError);
    for (const text of renderings) {
      expect(text).not.toContain(credentials.secretAccessKey);
      expect(text).not.toContain(credentials.accessKeyId);
      expect(text).not.toMatch(/Signature=|Credential=/);
    }
  });

  it('when a streamed put fails after a part was uploaded, then the multipart upload is aborted', async () => {
    const store = storeWith(backend.client);
    const before = { ...backend.proxy.stats.multipart };

    await expect(store.putStream('aborted.bin', generated(40 * MiB, 3, 20 * MiB))).rejects.toThrow(
      /source failed/,
    );
    const after = backend.proxy.stats.multipart;

    expect(after.created - before.created).toBe(1);
    expect(after.aborted - before.aborted).toBe(1);
    expect(after.completed - before.completed).toBe(0);
  });

  it('when a streamed object spans several parts, then its etag is the multipart form and the sha256 is of the whole', async () => {
    const store = storeWith(backend.client);
    const expected = await digest(generated(17 * MiB, 11));

    const stored = await store.putStream('parts.bin', generated(17 * MiB, 11));

    expect(stored.etag).toMatch(/^".+-3"$/);
    expect(stored.sha256).toBe(expected.sha256);
  });
});

describe('FsArchiveStore beyond the contract', () => {
  let root: string;
  let store: FsArchiveStore;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'archive-fs-'));
    store = new FsArchiveStore(root, { lockTimeoutMs: 300, staleLockMs: 2_000 });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const lockOf = (folder: string, name: string): string => join(root, folder, `.~lock.${name}`);

  it('when an object is put, then it is a plain file with the exact bytes and no internal file shows in listings', async () => {
    await store.put('plain/a.json', '{"a":1}');

    expect(store.location).toBe(root);
    expect(await readFile(join(root, 'plain', 'a.json'), 'utf8')).toBe('{"a":1}');
    expect(await collect(store.list('plain/'))).toEqual(['plain/a.json']);
  });

  it('when a file is changed behind the store, then head reports the etag of the new content', async () => {
    const first = await store.put('outside/x.txt', 'one');
    await writeFile(join(root, 'outside', 'x.txt'), 'two, longer');

    const head = await store.head('outside/x.txt');

    expect(first.etag).toBe(`"${createHash('md5').update('one').digest('hex')}"`);
    expect(unquoted(head?.etag ?? '')).toBe(createHash('md5').update('two, longer').digest('hex'));
    expect(head?.size).toBe('two, longer'.length);
  });

  it('when a lock was left by a process that has exited, then the next write breaks it and succeeds', async () => {
    await store.put('locks/dead.json', 'v1');
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(lockOf('locks', 'dead.json'), JSON.stringify({ pid: exited, host: hostname() }));

    await store.put('locks/dead.json', 'v2');

    expect((await store.get('locks/dead.json'))?.body.toString()).toBe('v2');
    expect(await readdir(join(root, 'locks'))).not.toContain('.~lock.dead.json');
  });

  it('when a lock from another host is older than staleLockMs, then it is broken', async () => {
    await writeFile(lockOf('.', 'old.json'), JSON.stringify({ pid: 1, host: 'another-host' }));
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(lockOf('.', 'old.json'), anHourAgo, anHourAgo);

    await store.put('old.json', 'written');

    expect((await store.get('old.json'))?.body.toString()).toBe('written');
  });

  it('when a fresh lock is held by another host, then a compare-and-swap write times out with a RetryableError', async () => {
    const v1 = await store.put('held.json', 'v1');
    await writeFile(lockOf('.', 'held.json'), JSON.stringify({ pid: 1, host: 'another-host' }));

    const write = store.put('held.json', 'v2', { ifMatch: v1.etag });

    await expect(write).rejects.toBeInstanceOf(RetryableError);
    await rm(lockOf('.', 'held.json'));
    expect((await store.get('held.json'))?.body.toString()).toBe('v1');
  });

  it('when a key would be both an object and a folder, then the write is a PermanentError naming the key', async () => {
    await store.put('clash/a', 'object');

    const write = store.put('clash/a/b', 'below an object');

    await expect(write).rejects.toBeInstanceOf(PermanentError);
    await expect(write).rejects.toThrow(/clash\/a\/b/);
  });

  it('when the last object of a folder is deleted, then the emptied folders are removed', async () => {
    await store.put('deep/er/still/x.json', 'x');

    await store.delete('deep/er/still/x.json');

    expect(await readdir(root)).not.toContain('deep');
  });
});
