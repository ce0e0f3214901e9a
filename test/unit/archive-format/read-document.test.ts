// Every stored document is read through readDocument: validated, with a permanent error that names
// the key and the first bad field, and fields a newer version added kept.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../shared/adapters/fs-archive-store.ts';
import {
  ConversationFileSchema,
  PendingMarkerSchema,
  prettyJson,
  WatermarkSchema,
} from '../../../shared/archive-format/documents.ts';
import { pendingKey, watermarkKey } from '../../../shared/archive-format/keys.ts';
import {
  InvalidDocumentError,
  readDocument,
  readVersionedDocument,
} from '../../../shared/archive-format/read-document.ts';
import { PermanentError } from '../../../shared/errors.ts';

describe('readDocument', () => {
  let root: string;
  let store: FsArchiveStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'amigo-qa-read-document-'));
    store = new FsArchiveStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('when the document does not exist, then it reads undefined', async () => {
    // Act
    const value = await readDocument(store, watermarkKey('acme'), WatermarkSchema);

    // Assert
    expect(value).toBeUndefined();
  });

  it('when a field has the wrong type, then a permanent error names the key and the field', async () => {
    // Arrange
    const key = pendingKey('acme', '6650f0c1a2b3c4d5e6f70812');
    await store.put(
      key,
      prettyJson({
        schema: 'amigo-qa/pending-conversation',
        schema_version: 1,
        conversation_id: '6650f0c1a2b3c4d5e6f70812',
        conversation: {
          id: '6650f0c1a2b3c4d5e6f70812',
          created_at: 'x',
          num_messages: 'many',
          service_id: 's',
        },
        first_run_id: null,
        last_run_id: null,
        runs: 1,
        enqueued_at: 'x',
        failure: null,
      }),
    );

    // Act
    const read = readDocument(store, key, PendingMarkerSchema);

    // Assert
    await expect(read).rejects.toBeInstanceOf(InvalidDocumentError);
    await expect(read).rejects.toBeInstanceOf(PermanentError);
    await expect(read).rejects.toThrow(key);
    await expect(read).rejects.toThrow('field conversation.num_messages');
  });

  it('when the document is not JSON, then the error says so and names the key', async () => {
    // Arrange
    await store.put(watermarkKey('acme'), '{"watermark": ');

    // Act
    const read = readDocument(store, watermarkKey('acme'), WatermarkSchema);

    // Assert
    await expect(read).rejects.toThrow(`The stored document ${watermarkKey('acme')} is invalid: is not JSON`);
  });

  it('when a newer version added a field, then the read keeps it, so a rewrite does not drop it', async () => {
    // Arrange
    const stored = { watermark: '2026-11-25T00:00:00.000Z', updated_at: 'x', run_id: null, moved_by: 'v2' };
    await store.put(watermarkKey('acme'), prettyJson(stored));

    // Act
    const read = await readVersionedDocument(store, watermarkKey('acme'), WatermarkSchema);

    // Assert
    expect(read?.value).toEqual(stored);
    expect(read?.etag).toBeTruthy();
  });

  it('when conversation.json holds a field readers use with the wrong type, then the error names it; fields it lacks or does not know are fine', async () => {
    // Arrange
    const key = 'conversations/org=acme/date=2026-11-25/conversation=c1/conversation.json';
    await store.put(key, JSON.stringify({ id: 'c1', is_finished: 'yes' }));
    const partial = 'conversations/org=acme/date=2026-11-25/conversation=c2/conversation.json';
    await store.put(partial, JSON.stringify({ id: 'c2', final_message: null, extra: { kept: true } }));

    // Act
    const bad = await readDocument(store, key, ConversationFileSchema).catch((error: unknown) => error);
    const good = await readDocument(store, partial, ConversationFileSchema);

    // Assert
    expect(bad).toBeInstanceOf(InvalidDocumentError);
    expect(String((bad as Error).message)).toMatch(/is_finished/);
    expect(good).toEqual({ id: 'c2', final_message: null, extra: { kept: true } });
  });
});
