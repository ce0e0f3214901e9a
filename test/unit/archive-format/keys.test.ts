// The key builders and the catalogue (DOCUMENTS, DATA_FILES: what docs/archive-format.md is checked
// against) describe the same keys: every builder's key fits its documented pattern.
import { describe, expect, it } from 'vitest';
import { DATA_FILES, DOCUMENTS } from '../../../shared/archive-format/documents.ts';
import {
  audioPath,
  checkedKey,
  conversationOfOutcomeKey,
  conversationOfPendingKey,
  conversationPrefix,
  FILES,
  interactionOfStallKey,
  lastRunKey,
  manifestKey,
  outcomeKey,
  outlookStateKey,
  parseManifestKey,
  pendingKey,
  runKey,
  STAGING_CHUNK,
  STAGING_DIR,
  stagingChunkName,
  stallKey,
  tagsKey,
  usageKey,
  watermarkKey,
} from '../../../shared/archive-format/keys.ts';

const org = 'acme';
const createdAt = '2026-11-25T21:14:03.120Z';
const id = '6650f0c1a2b3c4d5e6f70812';
const runId = '2026-11-26T02-00-00Z-a1b2c3';

/** A documented pattern as a regular expression: `<name>` is one segment (or part of one). */
function patternOf(key: string): RegExp {
  const parts = key.split(/<[^>]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[^/]+')}$`);
}

describe('archive keys', () => {
  const folder = conversationPrefix(org, createdAt, id);
  const built: Record<keyof typeof DOCUMENTS, string> = {
    manifest: manifestKey(org, createdAt, id),
    'staging chunk': `${folder}${STAGING_DIR}${stagingChunkName('0badc0de', 1)}`,
    tags: tagsKey(org, createdAt, id),
    watermark: watermarkKey(org),
    'last run': lastRunKey(org),
    'outlook state': outlookStateKey(org),
    'pending marker': pendingKey(org, id),
    'run record': runKey(runId),
    'archive outcome': outcomeKey(runId, id),
    'run usage': usageKey(runId, 'archive-worker', '1764554400000-0badc0de'),
    'stall record': stallKey(org, createdAt, id, '6650f0c1a2b3c4d5e6f70999'),
    checked: checkedKey(org, createdAt, id),
  };

  it.each(Object.entries(built))(
    'when the %s key is built, then it fits its documented pattern',
    (name, key) => {
      // Arrange
      const documented = DOCUMENTS[name as keyof typeof DOCUMENTS].key;

      // Act
      const fits = patternOf(documented).test(key);

      // Assert
      expect(fits, `${key} does not fit ${documented}`).toBe(true);
    },
  );

  it('when the data files are placed, then each fits one documented pattern', () => {
    // Arrange
    const keys = [
      `${folder}${FILES.conversation}`,
      `${folder}${FILES.messages}`,
      `${folder}${FILES.insights}`,
      `${folder}${audioPath('6650f0c1a2b3c4d5e6f70813', 'audio/wav')}`,
      `${folder}${STAGING_DIR}${FILES.messages}`,
    ];

    // Act
    const unmatched = keys.filter((key) => !DATA_FILES.some((pattern) => patternOf(pattern).test(key)));

    // Assert
    expect(unmatched).toEqual([]);
  });

  it('when keys are built, then the parsers read back what was put in', () => {
    // Arrange
    const manifest = manifestKey(org, createdAt, id);

    // Act
    const folderParts = parseManifestKey(manifest);

    // Assert
    expect(folderParts).toEqual({
      organizationId: org,
      date: '2026-11-25',
      conversationId: id,
      prefix: folder,
    });
    expect(parseManifestKey(tagsKey(org, createdAt, id))).toBeUndefined();
    expect(conversationOfOutcomeKey(outcomeKey(runId, id))).toBe(id);
    expect(conversationOfOutcomeKey(runKey(runId))).toBeUndefined();
    expect(conversationOfPendingKey(pendingKey(org, id))).toBe(id);
    expect(conversationOfPendingKey(outlookStateKey(org))).toBeUndefined();
    expect(interactionOfStallKey(stallKey(org, createdAt, id, 'abc'))).toBe('abc');
    expect(interactionOfStallKey(checkedKey(org, createdAt, id))).toBeUndefined();
    expect(STAGING_CHUNK.test(`${folder}${STAGING_DIR}${stagingChunkName('0badc0de', 12)}`)).toBe(true);
  });
});
