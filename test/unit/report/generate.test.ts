// The QA report's generator (shared/report/) over a small archive made by the real pipeline
// (test/support/report-archive.ts: the simulator over HTTP, one local nightly cycle, then hostile
// message text planted). What the page shows is tested in a browser:
// test/integration/report/browser.test.ts.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArchivedConversations, readArchivedConversation } from '../../../shared/archive/read.ts';
import { StallRecordSchema, TagsRecordSchema } from '../../../shared/archive-format/documents.ts';
import { FILES, interactionOfStallKey } from '../../../shared/archive-format/keys.ts';
import { readDocument } from '../../../shared/archive-format/read-document.ts';
import { safeJson } from '../../../shared/report/data-script.ts';
import {
  generateReport,
  ReportFolderError,
  type ReportSummary,
  UnknownRunError,
} from '../../../shared/report/generate.ts';
import { HOSTILE, makeReportArchive, type ReportArchive } from '../../support/report-archive.ts';

// biome-ignore lint/suspicious/noExplicitAny: the data files are JSON read back for assertions
type Json = any;

let archive: ReportArchive;
let out: string;
let summary: ReportSummary;
const scratch: string[] = [];

/** Evaluates a data script as the browser would, and returns what it defined. */
function evaluate(script: string): Json {
  const sandbox: Json = {};
  sandbox.self = sandbox;
  runInNewContext(script, sandbox);
  return sandbox.AMIGO_QA_REPORT;
}

async function indexOf(folder: string): Promise<Json> {
  return evaluate(await readFile(join(folder, 'data', 'index.js'), 'utf8')).index;
}

async function detailOf(folder: string, id: string): Promise<Json> {
  return evaluate(await readFile(join(folder, 'data', 'conversations', `${id}.js`), 'utf8')).conversations[
    id
  ];
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'report-out-'));
  scratch.push(dir);
  return dir;
}

beforeAll(async () => {
  archive = await makeReportArchive();
  out = await tempDir();
  summary = await generateReport(archive.store, out);
}, 120_000);

afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  await archive?.cleanup();
});

describe('the report generator', () => {
  it('when it runs over an archive, then data/index.js lists every committed conversation with its counts, voice, tags and rules from the archive', async () => {
    const refs = await listArchivedConversations(archive.store);

    const index = await indexOf(out);

    expect(summary.conversations).toBe(refs.length);
    expect(index.conversations.map((c: Json) => c.id).sort()).toEqual(
      refs.map((r) => r.conversationId).sort(),
    );
    for (const ref of refs) {
      const record = await readArchivedConversation(archive.store, ref.prefix);
      const tags = await readDocument(archive.store, ref.prefix + FILES.tags, TagsRecordSchema);
      const entry = index.conversations.find((c: Json) => c.id === ref.conversationId);
      expect(entry.messages).toBe(record.manifest.counts.messages);
      expect(entry.service_id).toBe(record.manifest.service_id);
      expect(entry.voice).toBe(record.messages.some((m) => (m as { format?: string }).format === 'voice'));
      expect(entry.tags).toEqual(tags?.after);
      expect(entry.rules).toEqual(tags?.results.filter((r) => r.matched).map((r) => r.rule));
    }
    expect(index.conversations.some((c: Json) => c.voice)).toBe(true);
    expect(index.rules.some((r: Json) => r.matched > 0)).toBe(true);
  });

  it('when it runs, then each conversation file holds the transcript in archive order, grouped by interaction, with each interaction’s insights', async () => {
    const refs = await listArchivedConversations(archive.store);

    for (const ref of refs) {
      const record = await readArchivedConversation(archive.store, ref.prefix);
      const detail = await detailOf(out, ref.conversationId);

      const shown = detail.interactions.flatMap((g: Json) => g.messages.map((m: Json) => m.id));
      expect(shown).toEqual(record.messages.map((m) => m.id));
      for (const line of record.insights) {
        const group = detail.interactions.find((g: Json) => g.id === line.interaction_id);
        expect(group.insights).toEqual(line.insights);
      }
    }
  });

  it('when a rule set a tag, then the conversation file names that rule and its reasons from tags.json', async () => {
    const index = await indexOf(out);
    let checked = 0;

    for (const entry of index.conversations) {
      const detail = await detailOf(out, entry.id);
      const ref = (
        await listArchivedConversations(archive.store, undefined, { conversationIds: [entry.id] })
      )[0];
      const tags = await readDocument(archive.store, `${ref?.prefix}${FILES.tags}`, TagsRecordSchema);
      for (const result of tags?.results ?? []) {
        if (!result.matched) continue;
        for (const key of Object.keys(result.set)) {
          const tag = detail.tags.tags.find((t: Json) => t.key === key);
          expect(tag.rule).toBeTruthy();
          const setter = tags?.results.find((r) => r.rule === tag.rule);
          expect(tag.reasons).toEqual(
            setter?.reasons.map((r) => ({ condition: r.condition, detail: r.detail })),
          );
          checked++;
        }
      }
    }

    expect(checked).toBeGreaterThan(0);
  });

  it('when a conversation has recordings, then each is copied byte for byte and its message points at it', async () => {
    const index = await indexOf(out);
    const voiced = index.conversations.filter((c: Json) => c.audio > 0);
    expect(voiced.length).toBeGreaterThan(0);

    for (const entry of voiced) {
      const ref = (
        await listArchivedConversations(archive.store, undefined, { conversationIds: [entry.id] })
      )[0];
      const record = await readArchivedConversation(archive.store, `${ref?.prefix}`);
      const detail = await detailOf(out, entry.id);
      const pointed = detail.interactions.flatMap((g: Json) => g.messages).filter((m: Json) => m.audio);
      const recordings = record.manifest.files.filter((f) => f.path.startsWith('audio/'));
      expect(pointed).toHaveLength(recordings.length);
      for (const message of pointed) {
        const file = recordings.find((f) => f.path.startsWith(`audio/${message.id}.`));
        const copied = await readFile(join(out, message.audio));
        expect(createHash('sha256').update(copied).digest('hex')).toBe(file?.sha256);
      }
    }
    expect(summary.audioFiles).toBeGreaterThan(0);
  });

  it('when a message holds markup, </script> or U+2028, then its data file carries none of those characters raw and still evaluates to the exact text', async () => {
    const file = join(out, 'data', 'conversations', `${archive.hostileConversation}.js`);
    const script = await readFile(file, 'utf8');

    const texts = (await detailOf(out, archive.hostileConversation)).interactions
      .flatMap((g: Json) => g.messages)
      .map((m: Json) => m.text);

    expect(script).not.toMatch(/[<>&\u2028\u2029]/);
    expect(texts).toContain(HOSTILE.user);
    expect(texts).toContain(HOSTILE.agent);
    expect(await readFile(join(out, 'data', 'index.js'), 'utf8')).not.toMatch(/[<>&\u2028\u2029]/);
    expect(safeJson('</script><!--\u2029')).toBe('"\\u003c/script\\u003e\\u003c!--\\u2029"');
  });

  it('when the report is written, then no file in it names anything outside the folder (no URL of any host, no protocol-relative link)', async () => {
    const files = (await readdir(out, { recursive: true })).filter((f) => /\.(html|js|css)$/.test(f));

    expect(files).toEqual(
      expect.arrayContaining(['index.html', 'app.js', 'app.css', join('data', 'index.js')]),
    );
    for (const name of files) {
      const text = await readFile(join(out, name), 'utf8');
      expect(text, name).not.toMatch(/\b(https?|wss?|ftp|data|blob):/i);
      expect(text, name).not.toMatch(/\/\/[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}/);
      expect(text, name).not.toMatch(/@import|url\(/i);
    }
  });

  it('when stall records exist, then the list carries each with its recommended responses and whether its conversation is archived', async () => {
    const records = [];
    for await (const object of archive.store.list('stalled/')) {
      if (interactionOfStallKey(object.key))
        records.push(await readDocument(archive.store, object.key, StallRecordSchema));
    }

    const index = await indexOf(out);

    expect(index.stalls).toHaveLength(records.length);
    for (const record of records) {
      const shown = index.stalls.find(
        (s: Json) =>
          s.conversation_id === record?.conversation_id && s.interaction_id === record?.interaction_id,
      );
      expect(shown.recommended_responses).toEqual(record?.recommended_responses);
      expect(shown.last_agent_message.message).toBe(record?.last_agent_message.message);
      expect(shown.archived).toBe(index.conversations.some((c: Json) => c.id === record?.conversation_id));
    }
    expect(index.runs.length).toBeGreaterThan(0);
  });

  it('when --since is a later day, then only conversations created from that day on are in the report', async () => {
    const refs = await listArchivedConversations(archive.store);
    const days = [...new Set(refs.map((r) => r.date))].sort();
    const since = days.at(-1) as string;
    const folder = await tempDir();

    await generateReport(archive.store, folder, { since });

    const index = await indexOf(folder);
    expect(index.conversations.map((c: Json) => c.id).sort()).toEqual(
      refs
        .filter((r) => r.date >= since)
        .map((r) => r.conversationId)
        .sort(),
    );
    expect(index.conversations.length).toBeLessThan(refs.length);
  });

  it('when --run names a run the archive does not have, then it is refused naming the run', async () => {
    const folder = await tempDir();

    const error = await generateReport(archive.store, folder, { runId: 'no-such-run' }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(UnknownRunError);
    expect((error as Error).message).toContain('no-such-run');
  });

  it('when the output folder holds other files and no earlier report, then it is refused and left untouched; an earlier report is replaced', async () => {
    const folder = await tempDir();
    await mkdir(join(folder, 'data'));
    await writeFile(join(folder, 'data', 'thesis.tex'), 'years of work');

    const error = await generateReport(archive.store, folder).catch((e: unknown) => e);
    const again = await generateReport(archive.store, out);

    expect(error).toBeInstanceOf(ReportFolderError);
    expect(await readFile(join(folder, 'data', 'thesis.tex'), 'utf8')).toBe('years of work');
    expect(again.conversations).toBe(summary.conversations);
  });
});
