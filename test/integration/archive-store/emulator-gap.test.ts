// Documents where fauxqs 2.4.1 differs from S3 in ways that matter for the archive store, by asserting
// fauxqs's CURRENT behaviour. If an upgrade closes a gap, these tests fail: then drop the workaround
// (the conditional-write proxy) and this test with it. fauxqs's LIST gaps (locale order, keys skipped
// across pages, a scan of the whole bucket per page) are closed by local/fauxqs.ts itself:
// test/integration/local-aws.test.ts.
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../../../local/fauxqs.ts';
import { S3ArchiveStore } from '../../../shared/adapters/s3-archive-store.ts';
import { PreconditionFailedError } from '../../../shared/ports/archive-store.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from '../../support/conditional-s3-proxy.ts';

const BUCKET = 'emulator-gap';

describe('fauxqs 2.4.1 gaps (asserting the emulator as it is today)', () => {
  let aws: LocalAws;
  let proxy: ConditionalS3Proxy;
  let direct: S3ArchiveStore;
  let proxied: S3ArchiveStore;
  beforeAll(async () => {
    aws = await startLocalAws();
    proxy = await startConditionalS3Proxy(aws.endpoint);
    const client = aws.s3();
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    direct = new S3ArchiveStore({ client, bucket: BUCKET });
    proxied = new S3ArchiveStore({ client: aws.s3({ endpoint: proxy.endpoint }), bucket: BUCKET });
  });
  afterAll(async () => {
    await proxy.stop();
    await aws.stop();
  });

  it('when a create-only write goes straight to fauxqs 2.4.1 (no proxy), then it is NOT refused and overwrites the object, so a test skipping the proxy would pass falsely', async () => {
    await direct.put('gap/create-only.json', 'original', { ifNoneMatch: '*' });

    const second = await direct.put('gap/create-only.json', 'overwrite', { ifNoneMatch: '*' });

    expect(second.size).toBe('overwrite'.length);
    expect((await direct.get('gap/create-only.json'))?.body.toString()).toBe('overwrite');
  });

  it('when a compare-and-swap write with a stale etag goes straight to fauxqs 2.4.1 (no proxy), then it is NOT refused', async () => {
    const v1 = await direct.put('gap/cas.json', 'v1');
    await direct.put('gap/cas.json', 'v2', { ifMatch: v1.etag });

    await direct.put('gap/cas.json', 'v3', { ifMatch: v1.etag });

    expect((await direct.get('gap/cas.json'))?.body.toString()).toBe('v3');
  });

  it('when the same create-only write goes through the conditional proxy, then it is refused as S3 would', async () => {
    await proxied.put('gap/proxied.json', 'original', { ifNoneMatch: '*' });

    const second = proxied.put('gap/proxied.json', 'overwrite', { ifNoneMatch: '*' });

    await expect(second).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await proxied.get('gap/proxied.json'))?.body.toString()).toBe('original');
  });
});
