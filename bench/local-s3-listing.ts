// Benchmark: the embedded S3 emulator's LIST, fauxqs 2.4.1's own scan next to the sorted index
// local/fauxqs.ts installs (local/fauxqs-sorted-listing.ts).
//
//   npm run bench:local-s3-listing [-- --objects 200000 --pages 50]
//
// Puts --objects keys shaped like the archive's (a day folder, a conversation, a file; in an
// unordered sequence) into each store, in process (no HTTP: the store's own cost, which is what the
// week bench's one event loop paid), then times --pages LIST pages of 1,000 under a prefix.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadInternals } from '../local/fauxqs.ts';
import { indexS3Listing, type ListingStore } from '../local/fauxqs-sorted-listing.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '200000' },
    pages: { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench/results/local-s3-listing.json' },
  },
});
const objects = Number(values.objects);
const pages = Number(values.pages);

type Store = ListingStore<{ key: string }> & {
  createBucket(name: string): void;
  putObject(bucket: string, key: string, body: Buffer): unknown;
};

const { S3Store } = await loadInternals();
const rows = [];
for (const indexed of [false, true]) {
  const store = new S3Store() as unknown as Store;
  store.createBucket('archive');
  if (indexed) indexS3Listing(store);
  const body = Buffer.from('x');
  const putStart = performance.now();
  for (let i = 0; i < objects; i++) {
    const conversation = (i * 7919) % objects;
    store.putObject('archive', `conversations/day=2026-12-0${i % 7}/c${conversation}/manifest.json`, body);
  }
  const putMs = performance.now() - putStart;
  const listStart = performance.now();
  let startAfter = '';
  for (let page = 0; page < pages; page++) {
    const result = store.listObjects('archive', {
      prefix: 'conversations/day=2026-12-03/',
      maxKeys: 1000,
      startAfter,
    });
    startAfter = result.objects.at(-1)?.key ?? '';
  }
  const listMs = performance.now() - listStart;
  rows.push({
    listing: indexed ? 'sorted index' : 'fauxqs scan',
    objects,
    putMsEach: Number((putMs / objects).toFixed(4)),
    listMsPerPage: Number((listMs / pages).toFixed(3)),
  });
}
console.table(rows);
writeFileSync(
  values.out,
  `${JSON.stringify({ date: new Date().toISOString().slice(0, 10), node: process.version, pages, rows }, null, 2)}\n`,
);
