// Embedded local AWS (S3 + SQS) for the local runner and the tests: fauxqs 2.4.1 in process, bound to
// 127.0.0.1 only. `startFauxqs` cannot be used for that: it hard-codes `host: '0.0.0.0'` in its
// `app.listen` call (an unauthenticated S3/SQS on every interface), so this builds the same Fastify
// app with the exported `buildApp` and listens on the loopback address itself.
//
// S3 LIST answers from a sorted index of each bucket's keys (local/fauxqs-sorted-listing.ts), not
// fauxqs's scan and sort of the whole bucket per page, and in S3's key order.
//
// Known gaps of fauxqs (see ../shared/local-aws.md, outside this repository): it ignores `If-None-Match` / `If-Match` on
// writes (test conditional writes through test/support/conditional-s3-proxy.ts), refuses a single
// PutObject over 11 MiB (use multipart), and its queue URLs name `sqs.<region>.localhost`, so the SQS
// client must always be given `endpoint`.
import type { AddressInfo } from 'node:net';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { type BuildAppOptions, buildApp } from 'fauxqs';
import { indexS3Listing, type ListingStore } from './fauxqs-sorted-listing.ts';

export interface LocalAwsOptions {
  /**
   * Keep S3 objects as files in this folder across restarts (fauxqs `FileS3Persistence`). fauxqs does
   * not export its stores from the package entry point, so this reaches into `fauxqs/dist/` by path:
   * it is tied to fauxqs 2.4.1's file layout (pinned exactly in package.json).
   */
  readonly s3StorageDir?: string;
  /** Region the clients sign for and fauxqs builds ARNs/queue URLs with. Default `us-east-1`. */
  readonly region?: string;
}

export interface LocalAws {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  /** Dummy credentials: fauxqs does not check signatures. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The listening socket's address (for checking the loopback-only binding). */
  address(): AddressInfo;
  /** A new S3 client for this endpoint (path-style addressing). Destroyed by `stop()`. */
  s3(overrides?: Partial<S3ClientConfig>): S3Client;
  /** A new SQS client for this endpoint. Destroyed by `stop()`. */
  sqs(overrides?: Partial<SQSClientConfig>): SQSClient;
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
// The SDK tags the credentials object it is given (`$source`), so every client gets its own copy.
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const region = options.region ?? 'us-east-1';
  const buildOptions: BuildAppOptions = { logger: false, defaultRegion: region };
  let closePersistence: (() => void) | undefined;
  if (options.s3StorageDir !== undefined) {
    const persisted = await persistentStores(options.s3StorageDir);
    buildOptions.stores = persisted.stores;
    closePersistence = persisted.close;
  } else {
    buildOptions.stores = await memoryStores();
  }
  indexS3Listing(buildOptions.stores.s3Store as unknown as ListingStore<{ key: string }>);
  const app = buildApp(buildOptions);
  if (closePersistence) {
    const close = closePersistence;
    app.addHook('onClose', (_instance, done) => {
      close();
      done();
    });
  }
  await app.listen({ port: 0, host: LOOPBACK });
  const address = app.server.address() as AddressInfo;
  const endpoint = `http://${LOOPBACK}:${address.port}`;
  const clients: Array<{ destroy(): void }> = [];

  return {
    endpoint,
    port: address.port,
    region,
    credentials: { ...CREDENTIALS },
    address: () => app.server.address() as AddressInfo,
    s3: (overrides = {}) => {
      const client = new S3Client({
        endpoint,
        region,
        credentials: { ...CREDENTIALS },
        forcePathStyle: true,
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    sqs: (overrides = {}) => {
      const client = new SQSClient({ endpoint, region, credentials: { ...CREDENTIALS }, ...overrides });
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const client of clients.splice(0)) client.destroy();
      await app.close();
    },
  };
}

// The minimal shapes used from fauxqs internals (not part of its public API).
type Stores = NonNullable<BuildAppOptions['stores']>;
interface FileS3PersistenceLike {
  loadS3(store: Stores['s3Store']): void;
  close(): void;
}
interface FauxqsInternals {
  SqsStore: new () => Stores['sqsStore'];
  SnsStore: new () => Stores['snsStore'];
  S3Store: new () => Stores['s3Store'];
  FileS3Persistence: new (dir: string) => FileS3PersistenceLike;
}

async function memoryStores(): Promise<Stores> {
  const internals = await loadInternals();
  return {
    sqsStore: new internals.SqsStore(),
    snsStore: new internals.SnsStore(),
    s3Store: new internals.S3Store(),
  };
}

/** The same wiring `startFauxqs` does for `s3StorageDir` (fauxqs 2.4.1 dist/app.js). */
async function persistentStores(dir: string): Promise<{ stores: Stores; close(): void }> {
  const internals = await loadInternals();
  const stores = await memoryStores();
  const persistence = new internals.FileS3Persistence(dir);
  persistence.loadS3(stores.s3Store); // load before wiring, as startFauxqs does
  (stores.s3Store as { persistence?: unknown }).persistence = persistence;
  return { stores, close: () => persistence.close() };
}

/** fauxqs's store classes, loaded from `fauxqs/dist/` by path (they are not exported). */
export async function loadInternals(): Promise<FauxqsInternals> {
  const entry = import.meta.resolve('fauxqs'); // .../fauxqs/dist/app.js
  const load = async (path: string): Promise<Record<string, unknown>> =>
    (await import(new URL(path, entry).href)) as Record<string, unknown>;
  const [sqs, sns, s3, file] = await Promise.all([
    load('./sqs/sqsStore.js'),
    load('./sns/snsStore.js'),
    load('./s3/s3Store.js'),
    load('./s3/fileS3Persistence.js'),
  ]);
  const internals = {
    SqsStore: sqs.SqsStore,
    SnsStore: sns.SnsStore,
    S3Store: s3.S3Store,
    FileS3Persistence: file.FileS3Persistence,
  };
  for (const [name, value] of Object.entries(internals)) {
    if (typeof value !== 'function') {
      throw new Error(
        `fauxqs internals changed: ${name} not found under fauxqs/dist; local/fauxqs.ts needs fauxqs 2.4.1`,
      );
    }
  }
  return internals as unknown as FauxqsInternals;
}
