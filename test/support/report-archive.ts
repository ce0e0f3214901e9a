// A small archive made by the real pipeline for the QA report's tests: the simulator over HTTP, one
// local nightly cycle (scheduler, archive, tag and stall workers through the SQS emulator) with
// examples/rules.yaml, into a folder. Then, because the simulator only says polite things, hostile
// text is written into that archive the way an archive could hold it: a user message and an agent
// message of one conversation (its manifest entry updated, so readers accept the folder) and a
// recommended response of one stall record.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalCycle } from '../../local/pipeline.ts';
import { FsArchiveStore } from '../../shared/adapters/fs-archive-store.ts';
import { listArchivedConversations, readArchivedConversation } from '../../shared/archive/read.ts';
import {
  type Manifest,
  ManifestSchema,
  prettyJson,
  type StallRecord,
  StallRecordSchema,
} from '../../shared/archive-format/documents.ts';
import { FILES, interactionOfStallKey } from '../../shared/archive-format/keys.ts';
import { readDocument } from '../../shared/archive-format/read-document.ts';
import { defaultPipelineConfig } from '../../shared/config/pipeline-config.ts';
import { loadRules } from '../../shared/config/source-file.ts';
import { amigoConfigFor, scaledLimits } from './client.ts';
import { startTestSimulator } from './simulator.ts';

/** Message texts that must show as text and run nothing. */
export const HOSTILE = {
  user: '<img src=x onerror=alert(1)>',
  agent: '</script><script>alert(2)</script> and a line\u2028separator',
  recommendation: '<img src=y onerror=alert(3)> "quoted" & </script>',
} as const;

export interface ReportArchive {
  readonly root: string;
  readonly store: FsArchiveStore;
  /** The conversation whose first user and agent messages are {@link HOSTILE}. */
  readonly hostileConversation: string;
  /** The stall record whose first recommended response is {@link HOSTILE}.recommendation. */
  readonly hostileStall: { conversationId: string; interactionId: string };
  cleanup(): Promise<void>;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs the pipeline once into a new folder (about 15 s) and plants {@link HOSTILE}. */
export async function makeReportArchive(conversations = 12): Promise<ReportArchive> {
  const sim = await startTestSimulator({
    conversations,
    longConversations: 0,
    // The published limits on the demo's clock (per 500 ms), so the overview shows a real budget.
    rateLimits: { enabled: true, scale: 120 },
  });
  const root = await mkdtemp(join(tmpdir(), 'report-archive-'));
  try {
    const amigo = amigoConfigFor(sim, { timeoutMs: 30_000, rateLimits: scaledLimits(500) });
    const config = { ...defaultPipelineConfig(), run: { workers: 4, maxReceiveCount: 3 } };
    const result = await runLocalCycle({
      config,
      amigo,
      archive: root,
      rules: loadRules('examples/rules.yaml'),
    });
    if (result.deadLetters.length > 0)
      throw new Error(`the pipeline dead-lettered ${result.deadLetters.length} jobs`);
  } finally {
    await sim.stop();
  }
  const store = new FsArchiveStore(root);
  const refs = await listArchivedConversations(store);
  const target = refs.at(-1);
  if (!target) throw new Error('the pipeline archived nothing');
  await plantMessages(store, target.prefix);

  let hostileStall: ReportArchive['hostileStall'] | undefined;
  for await (const object of store.list('stalled/')) {
    if (!interactionOfStallKey(object.key)) continue;
    const record = (await readDocument(store, object.key, StallRecordSchema)) as StallRecord;
    if (record.recommended_responses.length === 0) continue;
    record.recommended_responses[0] = HOSTILE.recommendation;
    await store.put(object.key, prettyJson(record));
    hostileStall = { conversationId: record.conversation_id, interactionId: record.interaction_id };
    break;
  }
  if (!hostileStall) throw new Error('the pipeline recorded no recommended responses');
  return {
    root,
    store,
    hostileConversation: target.conversationId,
    hostileStall,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

async function plantMessages(store: FsArchiveStore, prefix: string): Promise<void> {
  const stored = await store.get(prefix + FILES.messages);
  if (!stored) throw new Error(`no ${prefix}${FILES.messages}`);
  const lines = stored.body
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const planted = { user: false, agent: false };
  const rewritten = lines.map((line) => {
    const message = JSON.parse(line) as Record<string, unknown>;
    if (message.message_type === 'user-message' && !planted.user) {
      planted.user = true;
      message.message = HOSTILE.user;
    } else if (message.message_type === 'agent-message' && !planted.agent) {
      planted.agent = true;
      message.message = HOSTILE.agent;
    }
    return JSON.stringify(message);
  });
  const text = `${rewritten.join('\n')}\n`;
  await store.put(prefix + FILES.messages, text);
  const manifest = (await readDocument(store, prefix + FILES.manifest, ManifestSchema)) as Manifest;
  const entry = manifest.files.find((f) => f.path === FILES.messages);
  if (!entry) throw new Error('no messages.jsonl in the manifest');
  entry.bytes = Buffer.byteLength(text);
  entry.sha256 = sha256(text);
  await store.put(prefix + FILES.manifest, prettyJson(manifest));
  // The folder still reads as committed and intact.
  await readArchivedConversation(store, prefix);
}

/** The duration of a PCM WAV file from its header: data bytes / byte rate. */
export function wavDurationSeconds(bytes: Buffer): number {
  const byteRate = bytes.readUInt32LE(28);
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === 'data') return size / byteRate;
    offset += 8 + size + (size % 2);
  }
  throw new Error('no data chunk in the WAV file');
}
