// Benchmark: the SQL tables of a night of 5,000 conversations x 100 messages.
//
//   npm run bench:tables [-- --conversations 1000,5000 --messages 100 --limit-mb 400]
//
// For each size, a synthetic archive is written into a temp folder: committed folders (manifest with
// the files' real sizes and sha256, conversation.json, messages.jsonl, insights.jsonl with tool calls,
// tags.json) spread over 7 days, the run's outcome records, and a stall record per 20 conversations,
// all of one run. A child process (so that the generation is not counted) then runs the production
// stage `writeRunTables` into the same folder and reports its time and its peak RSS (VmHWM: the
// whole process, Node included; not maxRSS, which also counts the parent's image the child was
// forked from, bench/README.md "tables-writer"), beside a child that only
// imports the stage (the baseline). DuckDB reads the parts back and counts the rows. Then the
// Lambda-side writer (the stage and everything it imports) is bundled with esbuild as the Lambda
// bundles are (node24, ESM, minified) and its size reported. Fails (exit 1) when a peak reaches
// --limit-mb (MB = 10^6 bytes) or a table's row count differs from what was generated.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { prettyJson } from '../shared/archive-format/documents.ts';
import { conversationPrefix, outcomeKey, stallKey } from '../shared/archive-format/keys.ts';
import { systemClock } from '../shared/ports/clock.ts';
import { type WriteTablesResult, writeRunTables } from '../shared/stages/write-tables.ts';

const { values } = parseArgs({
  options: {
    conversations: { type: 'string', default: '1000,5000' },
    messages: { type: 'string', default: '100' },
    'limit-mb': { type: 'string', default: '400' },
    out: { type: 'string', default: 'bench/results/tables.json' },
    child: { type: 'string' },
    /** Caps the child's JS heap (node --max-old-space-size): shows the live heap stays under it. */
    'child-heap-mb': { type: 'string' },
    baseline: { type: 'boolean', default: false },
  },
});

const ORG = 'bench-org';
const RUN = '2026-12-01T02-00-00Z-bench1';
const DAY = 86_400_000;
const START = Date.parse('2026-11-24T00:00:00.000Z');

interface ChildReport {
  readonly ms: number;
  readonly peakHeapMb: number;
  readonly peakExternalMb: number;
  readonly maxRssKb: number;
  readonly parts: number;
  readonly rows: Record<string, number>;
  readonly bytes: number;
}

// --- the child: the production stage alone -------------------------------------------------------

/** This process's peak RSS in KiB: VmHWM on Linux, else maxRSS (which may count the parent's image). */
function peakRssKb(): number {
  try {
    const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm?.[1]) return Number(hwm[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

if (values.baseline) {
  process.stdout.write(JSON.stringify({ maxRssKb: peakRssKb() }));
  process.exit(0);
}
if (values.child !== undefined) {
  const store = new FsArchiveStore(values.child);
  const quiet = () => undefined;
  // What the peak is made of: sampled every 100 ms (the JS heap, and Buffers/ArrayBuffers outside it).
  const peak = { heapUsed: 0, external: 0, rss: 0 };
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.rss = Math.max(peak.rss, m.rss);
  }, 100);
  const started = performance.now();
  const result: WriteTablesResult = await writeRunTables(
    { store, clock: systemClock, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } },
    { organizationId: ORG, runId: RUN },
  );
  const rows: Record<string, number> = {};
  for (const p of result.parts) rows[p.table] = (rows[p.table] ?? 0) + p.rows;
  clearInterval(sampler);
  const report: ChildReport = {
    ms: performance.now() - started,
    peakHeapMb: peak.heapUsed / 1e6,
    peakExternalMb: peak.external / 1e6,
    maxRssKb: peakRssKb(),
    parts: result.parts.length,
    rows,
    bytes: result.parts.reduce((n, p) => n + p.bytes, 0),
  };
  process.stdout.write(JSON.stringify(report));
  process.exit(0);
}

// --- the synthetic night -------------------------------------------------------------------------

const hex = (n: number, width = 24) => n.toString(16).padStart(width, '0');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const TYPES = ['user-message', 'agent-message', 'agent-inner-thought', 'agent-message'] as const;
const TOOLS = ['lookup_appointment', 'send_sms', 'create_ticket', 'check_eligibility'];

function writeFile(root: string, key: string, body: string): void {
  const path = join(root, ...key.split('/'));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
}

/** Writes `count` committed folders of one run, `perConversation` messages each; returns the expected rows. */
function generate(root: string, count: number, perConversation: number): Record<string, number> {
  const expected = { conversations: 0, messages: 0, interactions: 0, tags: 0, stalls: 0 };
  for (let c = 0; c < count; c++) {
    const id = hex(0x6a000000 + c);
    const createdMs = START + Math.floor((c / count) * 7 * DAY);
    const createdAt = new Date(createdMs).toISOString();
    const prefix = conversationPrefix(ORG, createdAt, id);
    const service = `service-${c % 4}`;
    const messages: string[] = [];
    const insights: string[] = [];
    const byType: Record<string, number> = {};
    for (let m = 0; m < perConversation; m++) {
      const type = TYPES[m % TYPES.length] as string;
      byType[type] = (byType[type] ?? 0) + 1;
      const interaction = hex(Math.floor(m / 4) + c * 1000, 24);
      messages.push(
        JSON.stringify({
          id: hex(c * 1000 + m),
          interaction_id: interaction,
          created_at: new Date(createdMs + m * 1000).toISOString(),
          sender: type === 'user-message' ? 'Alex Chen' : 'Kai',
          message: `Message ${m} of a synthetic conversation, about as long as a real turn in a call.`,
          format: 'text',
          message_type: type,
        }),
      );
      if (m % 4 === 3) {
        insights.push(
          JSON.stringify({
            interaction_id: interaction,
            insights: {
              current_state_name: `state_${m % 5}`,
              current_state_action: 'Help',
              current_state_objective: 'Resolve the request',
              state_transition_logs: [
                {
                  type: 'action',
                  previous_state: 'a',
                  next_state: 'b',
                  tool_call_logs: [
                    [
                      {
                        tool_name: TOOLS[m % 4],
                        tool_id: 't',
                        tool_version: '1',
                        input: {},
                        output: '{"ok":true}',
                        duration: (m % 13) / 4,
                      },
                    ],
                  ],
                },
              ],
              working_memory: [{ content: 'Prefers mornings', context: 'said so' }],
              reflections: ['The user wants a slot'],
              select_next_action_tool_call_logs: [],
              engage_user_tool_call_logs: [],
            },
          }),
        );
      }
    }
    const files = {
      'conversation.json': prettyJson({
        id,
        created_at: createdAt,
        num_messages: perConversation,
        service_id: service,
        user_id: 'u',
        is_finished: true,
        is_analyzed: true,
        tags: { region: 'north' },
      }),
      'insights.jsonl': `${insights.join('\n')}\n`,
      'messages.jsonl': `${messages.join('\n')}\n`,
    };
    for (const [name, body] of Object.entries(files)) writeFile(root, `${prefix}${name}`, body);
    writeFile(
      root,
      `${prefix}manifest.json`,
      prettyJson({
        schema: 'amigo-qa/archive-manifest',
        schema_version: 1,
        organization_id: ORG,
        conversation_id: id,
        service_id: service,
        created_at: createdAt,
        archived_at: '2026-12-01T02:10:00.000Z',
        run_id: RUN,
        counts: {
          messages: perConversation,
          messages_by_type: byType,
          interactions: insights.length,
          insights: insights.length,
          audio: 0,
        },
        api: { num_messages: perConversation },
        flags: [],
        files: Object.entries(files).map(([path, body]) => ({
          path,
          bytes: Buffer.byteLength(body),
          sha256: sha(body),
          content_type: 'application/json',
        })),
      }),
    );
    writeFile(
      root,
      `${prefix}tags.json`,
      prettyJson({
        schema_version: 1,
        conversation_id: id,
        evaluated_at: '2026-12-01T02:11:00.000Z',
        rules_source: 'rules.yaml',
        run_id: RUN,
        before: { region: 'north' },
        after: { region: 'north', slow_tool: 'send_sms' },
        applied: { updates: { slow_tool: 'send_sms' }, deletes: [] },
        dropped: [],
        posted: true,
        results: [
          {
            rule: 'long tool latency',
            matched: true,
            reasons: [],
            set: { slow_tool: 'send_sms' },
            remove: [],
          },
        ],
      }),
    );
    writeFile(
      root,
      outcomeKey(RUN, id),
      prettyJson({
        conversation_id: id,
        status: 'archived',
        created_at: createdAt,
        flags: [],
        audio_bytes: 0,
        at: '2026-12-01T02:10:00.000Z',
      }),
    );
    if (c % 20 === 0) {
      const interaction = hex(c * 1000 + 99);
      writeFile(
        root,
        stallKey(ORG, createdAt, id, interaction),
        prettyJson({
          schema: 'amigo-qa/stall-record',
          schema_version: 1,
          status: 'recommended',
          organization_id: ORG,
          conversation_id: id,
          interaction_id: interaction,
          service_id: service,
          conversation_created_at: createdAt,
          run_id: RUN,
          requested_at: '2026-12-01T02:05:00.000Z',
          answered_at: '2026-12-01T02:05:01.000Z',
          context: null,
          recommended_responses: ['Yes', 'No'],
          last_agent_message: {
            id: hex(c * 1000 + 98),
            created_at: createdAt,
            message: 'Anything else?',
            format: 'text',
          },
          num_messages: perConversation,
        }),
      );
      expected.stalls++;
    }
    expected.conversations++;
    expected.messages += perConversation;
    expected.interactions += insights.length;
    expected.tags++;
  }
  return expected;
}

const run = promisify(execFile);
const here = new URL(import.meta.url).pathname;

async function child(args: string[]): Promise<string> {
  const cap = values['child-heap-mb'];
  const flags = cap === undefined ? [] : [`--max-old-space-size=${Number(cap)}`];
  const { stdout } = await run(process.execPath, [...flags, here, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function countRows(root: string): Promise<Record<string, number>> {
  // The parts as the store lists them: a folder store keeps `.~etag.<name>` sidecars beside each
  // file, which a glob on *.parquet would take for parts.
  const store = new FsArchiveStore(root);
  const files = new Map<string, string[]>();
  for await (const o of store.list('tables/')) {
    const table = o.key.split('/')[1] ?? '';
    files.set(table, [...(files.get(table) ?? []), join(root, ...o.key.split('/'))]);
  }
  // Imported here, not at the top: the child (this same file) must not load DuckDB or esbuild.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  const out: Record<string, number> = {};
  for (const table of ['conversations', 'messages', 'interactions', 'tags', 'stalls']) {
    const list = (files.get(table) ?? []).map((f) => `'${f.replaceAll("'", "''")}'`).join(', ');
    const result = await con.runAndReadAll(`SELECT count(*) AS n FROM read_parquet([${list}])`);
    out[table] = Number(result.getRowObjectsJson()[0]?.n);
  }
  con.closeSync();
  return out;
}

const limitMb = Number(values['limit-mb']);
const perConversation = Number(values.messages);
const sizes = String(values.conversations).split(',').map(Number);
const baseline = JSON.parse(await child(['--baseline'])) as { maxRssKb: number };
const results = [];
let failed = false;
for (const size of sizes) {
  const root = await mkdtemp(join(tmpdir(), 'amigo-qa-bench-tables-'));
  try {
    const generatedAt = performance.now();
    const expected = generate(root, size, perConversation);
    const generateSeconds = (performance.now() - generatedAt) / 1000;
    const report = JSON.parse(await child(['--child', root])) as ChildReport;
    const read = await countRows(root);
    const peakMb = (report.maxRssKb * 1024) / 1e6;
    const rowsMatch = JSON.stringify(read) === JSON.stringify(expected);
    if (peakMb >= limitMb || !rowsMatch) failed = true;
    results.push({
      conversations: size,
      messages: expected.messages,
      generateSeconds: Number(generateSeconds.toFixed(1)),
      seconds: Number((report.ms / 1000).toFixed(1)),
      peakRssMb: Number(peakMb.toFixed(0)),
      peakHeapMb: Number(report.peakHeapMb.toFixed(0)),
      peakExternalMb: Number(report.peakExternalMb.toFixed(0)),
      parts: report.parts,
      parquetBytes: report.bytes,
      rows: read,
      rowsMatch,
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

// The Lambda-side writer as a bundle: the stage and everything it imports (hyparquet-writer, zod,
// the archive readers), built as the Lambda bundles are.
const bundleDir = await mkdtemp(join(tmpdir(), 'amigo-qa-bench-tables-bundle-'));
let bundle: { bytes: number; gzipBytes: number };
try {
  const entry = join(bundleDir, 'entry.ts');
  writeFileSync(
    entry,
    `export { writeRunTables, rebuildTables } from ${JSON.stringify(resolve('shared/stages/write-tables.ts'))};\n`,
  );
  const outfile = join(bundleDir, 'index.mjs');
  const { build } = await import('esbuild');
  const built = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    keepNames: true,
    external: ['@aws-sdk/*'],
    outfile,
    write: false,
    logLevel: 'error',
  });
  const code = built.outputFiles[0]?.contents ?? new Uint8Array();
  bundle = { bytes: code.byteLength, gzipBytes: gzipSync(code).byteLength };
} finally {
  await rm(bundleDir, { recursive: true, force: true });
}

const summary = {
  date: new Date().toISOString(),
  node: process.version,
  config: {
    sizes,
    messagesPerConversation: perConversation,
    limitMb,
    rowGroupRows: 10_000,
    childHeapMb: values['child-heap-mb'] === undefined ? null : Number(values['child-heap-mb']),
  },
  baselineRssMb: Number(((baseline.maxRssKb * 1024) / 1e6).toFixed(0)),
  results,
  bundle,
  pass: !failed,
};
mkdirSync(dirname(String(values.out)), { recursive: true });
writeFileSync(String(values.out), `${JSON.stringify(summary, null, 2)}\n`);
console.log(`Baseline (the stage imported, nothing run): ${summary.baselineRssMb} MB peak RSS`);
console.log('conversations  messages  seconds  peak RSS  heap  external  parts  parquet bytes  rows match');
for (const r of results)
  console.log(
    `${String(r.conversations).padStart(13)}  ${String(r.messages).padStart(8)}  ${String(r.seconds).padStart(7)}  ${`${r.peakRssMb} MB`.padStart(8)}  ${`${r.peakHeapMb}`.padStart(4)}  ${`${r.peakExternalMb}`.padStart(8)}  ${String(r.parts).padStart(5)}  ${String(r.parquetBytes).padStart(13)}  ${r.rowsMatch}`,
  );
console.log(
  `Writer bundle (esbuild, node24 ESM, minified): ${bundle.bytes} bytes, ${bundle.gzipBytes} gzipped`,
);
console.log(failed ? 'FAIL' : 'PASS');
process.exitCode = failed ? 1 : 0;
