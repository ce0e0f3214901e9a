// Benchmark: the QA report over a large archive: time and peak memory (RSS) of `generateReport`.
//
//   npm run bench:report [-- --conversations 5000 --limit-seconds 60 --limit-mb 400]
//
// A small archive is made by the real pipeline (the simulator in this process, one local nightly
// cycle into a temp folder), then its committed folders are cloned under new conversation ids until
// the archive holds --conversations folders (clones keep the messages, insights and tags; they leave
// the recordings out, so the disk is not filled; the originals keep theirs). The report is then
// generated in a child process, once over a fifth of the conversations (--since cuts the days) and
// once over all of them; each reports process.resourceUsage().maxRSS. Memory is flat when the two
// peaks are close: the generator holds one conversation at a time plus the list's small entries.
// Fails (exit 1) when all of them take --limit-seconds or more, or a peak reaches --limit-mb.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLocalCycle } from '../local/pipeline.ts';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { resolveAmigoConfig } from '../shared/amigo/index.ts';
import { listArchivedConversations } from '../shared/archive/read.ts';
import { ManifestSchema, prettyJson } from '../shared/archive-format/documents.ts';
import { defaultPipelineConfig } from '../shared/config/pipeline-config.ts';
import { loadRules } from '../shared/config/source-file.ts';
import { operationIds } from '../shared/openapi/index.ts';
import { generateReport } from '../shared/report/generate.ts';
import { startSimulator } from '../sim/index.ts';

const { values } = parseArgs({
  options: {
    conversations: { type: 'string', default: '5000' },
    'limit-seconds': { type: 'string', default: '60' },
    'limit-mb': { type: 'string', default: '400' },
    out: { type: 'string', default: 'bench/results/report.json' },
    // Internal: the child process that generates one report.
    child: { type: 'string' },
    since: { type: 'string' },
  },
});

if (values.child) {
  const [archive, out] = values.child.split('\n') as [string, string];
  const started = performance.now();
  const summary = await generateReport(new FsArchiveStore(archive), out, { since: values.since });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ seconds, conversations: summary.conversations, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
  );
  process.exit(0);
}

const target = Number(values.conversations);
const limitSeconds = Number(values['limit-seconds']);
const limitMb = Number(values['limit-mb']);
const root = await mkdtemp(join(tmpdir(), 'bench-report-'));

try {
  // 1. A small archive by the real pipeline.
  const sim = await startSimulator({
    conversations: 24,
    longConversations: 0,
    audio: { largeRecordings: 0 },
    rateLimits: { enabled: false },
  });
  const archive = join(root, 'archive');
  try {
    await runLocalCycle({
      config: { ...defaultPipelineConfig(), run: { workers: 4, maxReceiveCount: 3 } },
      amigo: resolveAmigoConfig({
        baseUrl: sim.url,
        organizationId: sim.organizationId,
        apiKey: sim.credentials.apiKey,
        apiKeyId: sim.credentials.apiKeyId,
        userId: sim.credentials.userId,
        rateLimits: Object.fromEntries(operationIds.map((id) => [id, '10000/s'])),
      }),
      archive,
      rules: loadRules('examples/rules.yaml'),
    });
  } finally {
    await sim.stop();
  }

  // 2. Clone the committed folders under new ids, spread over 100 days.
  const originals = await listArchivedConversations(new FsArchiveStore(archive));
  const sources = [];
  for (const ref of originals) {
    const folder = join(archive, ref.prefix);
    sources.push({
      ref,
      conversation: await readFile(join(folder, 'conversation.json'), 'utf8'),
      messages: await readFile(join(folder, 'messages.jsonl')),
      insights: await readFile(join(folder, 'insights.jsonl')),
      tags: await readFile(join(folder, 'tags.json'), 'utf8').catch(() => undefined),
      manifest: ManifestSchema.parse(JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8'))),
    });
  }
  const cloning = performance.now();
  for (let i = originals.length; i < target; i++) {
    const source = sources[i % sources.length];
    if (!source) throw new Error('the pipeline archived nothing');
    const id = randomBytes(12).toString('hex');
    const day = new Date(Date.UTC(2026, 7, 1) + (i % 100) * 86_400_000).toISOString().slice(0, 10);
    const folder = join(
      archive,
      `conversations/org=${source.ref.organizationId}/date=${day}/conversation=${id}`,
    );
    await mkdir(folder, { recursive: true });
    const conversation = source.conversation.replace(source.ref.conversationId, id);
    const files = {
      'conversation.json': Buffer.from(conversation),
      'insights.jsonl': source.insights,
      'messages.jsonl': source.messages,
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(folder, name), bytes);
    if (source.tags)
      await writeFile(join(folder, 'tags.json'), source.tags.replace(source.ref.conversationId, id));
    const manifest = {
      ...source.manifest,
      conversation_id: id,
      created_at: `${day}T12:00:00.000Z`,
      counts: { ...source.manifest.counts, audio: 0 },
      files: Object.entries(files).map(([path, bytes]) => ({
        path,
        bytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        content_type: path.endsWith('.json') ? 'application/json' : 'application/x-ndjson',
      })),
    };
    await writeFile(join(folder, 'manifest.json'), prettyJson(manifest));
  }
  console.log(
    `archive: ${originals.length} folders by the pipeline, cloned to ${target} in ${((performance.now() - cloning) / 1000).toFixed(1)} s`,
  );

  // The folder store caches each file's etag beside it when it is first listed; the pipeline wrote
  // those for its own files, the clones have none yet. List once so that both runs below find them.
  for await (const _ of new FsArchiveStore(archive).list('conversations/')) {
    // nothing: listing is the point
  }

  // 3. The report, in a child process each: a fifth of the conversations (the last 20 days), then all.
  const child = (since?: string) => {
    const run = spawnSync(
      process.execPath,
      [
        new URL(import.meta.url).pathname,
        '--child',
        `${archive}\n${join(root, `report-${since ?? 'all'}`)}`,
        ...(since ? ['--since', since] : []),
      ],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`the report child failed: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as {
      seconds: number;
      conversations: number;
      maxRssKiB: number;
    };
  };
  const fifth = child(new Date(Date.UTC(2026, 7, 1) + 80 * 86_400_000).toISOString().slice(0, 10));
  const all = child();
  const rows = [fifth, all].map((r) => ({
    conversations: r.conversations,
    seconds: Math.round(r.seconds * 10) / 10,
    perSecond: Math.round(r.conversations / r.seconds),
    peakRssMB: Math.round((r.maxRssKiB * 1024) / 1e6),
  }));
  console.table(rows);
  const pass = rows.every((r) => r.peakRssMB < limitMb) && (rows[1]?.seconds ?? Infinity) < limitSeconds;
  writeFileSync(
    values.out as string,
    `${JSON.stringify(
      {
        benchmark: 'report',
        date: new Date().toISOString(),
        node: process.version,
        config: { conversations: target, limitSeconds, limitMb, pipelineFolders: originals.length },
        results: rows,
        pass,
      },
      null,
      2,
    )}\n`,
  );
  console.log(pass ? 'PASS' : `FAIL (limits: ${limitSeconds} s, ${limitMb} MB)`);
  if (!pass) process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
