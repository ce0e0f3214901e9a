// Benchmark: the tables-writer Lambda bundle as `cdk deploy` ships it, writing the SQL tables of a
// night of 5,000+ conversations from S3.
//
//   npm start                                   # once: the demo archive this copies from
//   npm run bench:tables-writer [-- --messages 500000 --lambda-mb 512 --sample-ms 5 --archive .amigo-qa/demo-archive]
//
// Synthesizes the stack with its own bundling and takes the tables writer's index.mjs (bytes,
// gzip). Then it fills the embedded S3 emulator (fauxqs, 127.0.0.1) with one run: the demo
// archive's committed folders copied under new conversation ids (conversation.json and the
// manifest rewritten, so every folder reads as committed and intact; recordings left out, as the
// writer never reads them) until the run holds --messages messages, with an outcome record per
// folder and the run record. Finally the bundle runs in a fresh Node 24 process, the way its
// schedule invokes it, and reports what it wrote, how long it took, its CPU time and its peak RSS.
//
// The peak is the child's VmHWM (/proc/self/status), not `process.resourceUsage().maxRSS`: Linux's
// ru_maxrss also counts the image the child was forked from (the exec'd process inherits the
// high-water mark of the parent's copy), and this parent holds the emulator's whole night, so maxRSS
// reported the bench's own size (827 MiB at 500,000 messages while the function never passed 387 MiB;
// bench/README.md, "tables-writer"). maxRSS is still reported, as `forkedMaxRssMiB`, to show it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadDeploymentInputs } from '../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../infra/stacks/amigo-qa-stack.ts';
import { startLocalAws } from '../local/fauxqs.ts';
import { FsArchiveStore } from '../shared/adapters/fs-archive-store.ts';
import { listArchivedConversations, readArchivedConversation } from '../shared/archive/read.ts';
import { ManifestSchema, prettyJson, RunRecordSchema } from '../shared/archive-format/documents.ts';
import { FILES, outcomeKey, runKey } from '../shared/archive-format/keys.ts';
import { readDocument } from '../shared/archive-format/read-document.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { TABLES_WRITER } from '../shared/contract/topology.ts';
import { newRunId } from '../shared/ids.ts';
import { lambdaHeapFlags } from './lambda-process.ts';

const { values } = parseArgs({
  options: {
    archive: { type: 'string', default: '.amigo-qa/demo-archive' },
    messages: { type: 'string', default: '500000' },
    out: { type: 'string', default: 'bench/results/tables-writer.json' },
    // V8's heap limit for the function's process; unset: Node's default for this machine, which
    // lets garbage pile up far beyond what a 1 GiB Lambda sandbox allows.
    'heap-mib': { type: 'string' },
    // The V8 limits Lambda's Node runtime derives from the function's memory (its bootstrap script:
    // a tenth for the young generation, half of that per semi-space, the rest for the old space).
    'lambda-mb': { type: 'string' },
    // Also samples the process's RSS from a worker thread (it runs while the main thread is busy,
    // which a timer cannot) every this many ms, and marks what the writer was doing at each jump.
    'sample-ms': { type: 'string' },
  },
});
const targetMessages = Number(values.messages);
const run = promisify(execFile);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

// 1. The bundle.
// Inside the repo's own scratch folder (.amigo-qa/, ignored by git): the bundle must outlive a
// load of several minutes, and shared temp folders get swept.
mkdirSync('.amigo-qa', { recursive: true });
const outdir = mkdtempSync(join(resolve('.amigo-qa'), 'bench-tables-writer-'));
const aws = await startLocalAws();
try {
  const app = new App({
    outdir,
    context: {
      ...JSON.parse(readFileSync('cdk.json', 'utf8')).context,
      'aws:cdk:enable-asset-metadata': true,
    },
  });
  const stack = new AmigoQaStack(app, 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml' }),
  });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Metadata?: Record<string, string> }
  >;
  const asset =
    resources[stack.getLogicalId(stack.tablesWriter.function.node.defaultChild as never)]?.Metadata?.[
      'aws:asset:path'
    ];
  if (!asset) throw new Error('the tables writer has no bundled asset');
  // Kept apart from the synth's folder, which lives only as long as the synth needs it.
  const bundle = join(outdir, 'tables-writer.mjs');
  const code = readFileSync(join(outdir, asset, 'index.mjs'));
  writeFileSync(bundle, code);

  // 2. One night in S3, copied from the demo archive.
  const source = new FsArchiveStore(resolve(values.archive));
  const refs = await listArchivedConversations(source);
  if (refs.length === 0) throw new Error(`${values.archive} holds no archive: run npm start first`);
  const folders = await Promise.all(
    refs.map(async (ref) => {
      const record = await readArchivedConversation(source, ref.prefix);
      const manifest = await readDocument(source, ref.prefix + FILES.manifest, ManifestSchema);
      if (!manifest) throw new Error(`${ref.prefix} has no manifest`);
      const file = async (name: string) => (await source.get(ref.prefix + name))?.body ?? Buffer.alloc(0);
      return {
        manifest,
        conversation: JSON.parse((await file(FILES.conversation)).toString('utf8')) as Record<
          string,
          unknown
        >,
        messages: await file(FILES.messages),
        insights: await file(FILES.insights),
        count: record.manifest.counts.messages,
      };
    }),
  );
  let runFile: string | undefined;
  for await (const o of source.list('runs/')) if (/^runs\/[^/]+\.json$/.test(o.key)) runFile ??= o.key;
  if (!runFile) throw new Error(`${values.archive} has no run record`);
  const runRecord = await readDocument(source, runFile, RunRecordSchema);
  if (!runRecord) throw new Error(`${runFile} cannot be read`);
  const runId = newRunId(Date.now() - 3_600_000);
  const organizationId = runRecord.organization_id;

  const s3 = aws.s3();
  const bucket = 'bench-tables';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const put = (key: string, body: string | Buffer) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const copies: Array<{ index: number; n: number }> = [];
  let messages = 0;
  for (let n = 0; messages < targetMessages; n++) {
    const folder = folders[n % folders.length];
    if (!folder) break;
    copies.push({ index: n % folders.length, n });
    messages += folder.count;
  }
  const started = Date.now();
  await mapLimit(copies, 16, async ({ index, n }) => {
    const f = folders[index];
    if (!f) return;
    const id = `bench${String(n).padStart(8, '0')}${f.manifest.conversation_id.slice(13)}`;
    const createdAt = f.manifest.created_at;
    const day = createdAt.slice(0, 10);
    const prefix = `conversations/org=${organizationId}/date=${day}/conversation=${id}/`;
    const conversation = prettyJson({ ...f.conversation, id });
    const files = f.manifest.files.map((entry) =>
      entry.path === FILES.conversation
        ? { ...entry, bytes: Buffer.byteLength(conversation), sha256: sha256(conversation) }
        : entry,
    );
    await put(prefix + FILES.conversation, conversation);
    await put(prefix + FILES.messages, f.messages);
    await put(prefix + FILES.insights, f.insights);
    await put(
      prefix + FILES.manifest,
      prettyJson({ ...f.manifest, conversation_id: id, run_id: runId, files }),
    );
    await put(
      outcomeKey(runId, id),
      prettyJson({
        conversation_id: id,
        status: 'archived',
        created_at: createdAt,
        at: new Date().toISOString(),
      }),
    );
  });
  await put(
    runKey(runId),
    prettyJson({ ...runRecord, run_id: runId, started_at: new Date(Date.now() - 3_600_000).toISOString() }),
  );
  const loadSeconds = (Date.now() - started) / 1000;

  // 3. The bundle, as its schedule invokes it, in a fresh process.
  const sampleMs = values['sample-ms'] ? Number(values['sample-ms']) : 0;
  const script = `
${sampleMs > 0 ? probe(sampleMs) : 'const probe = undefined;'}
const m = await import(${JSON.stringify(bundle)});
const t = performance.now();
const peak = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
const sample = () => { const u = process.memoryUsage(); for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], u[k]); };
const sampler = setInterval(sample, 100);
const context = { functionName: 'tables-writer', awsRequestId: 'bench', getRemainingTimeInMillis: () => 900000 };
const result = await m.handler({ lookbackHours: 2 }, context);
clearInterval(sampler);
sample();
const mib = (n) => Math.round((n / 1048576) * 10) / 10;
const probed = probe ? { probe: await probe.stop() } : {};
const cpu = process.cpuUsage();
const hwm = /VmHWM:\\s+(\\d+)/.exec(process.getBuiltinModule('node:fs').readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ result, seconds: (performance.now() - t) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: Number(hwm?.[1]) / 1024, forkedMaxRssMiB: process.resourceUsage().maxRSS / 1024, peakMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, mib(v)])), ...probed }));
`;
  const lambdaMb = values['lambda-mb'] ? Number(values['lambda-mb']) : undefined;
  const flags =
    lambdaMb !== undefined
      ? lambdaHeapFlags(lambdaMb)
      : values['heap-mib']
        ? [`--max-old-space-size=${Number(values['heap-mib'])}`]
        : [];
  const { stdout } = await run(process.execPath, [...flags, '--input-type=module', '-e', script], {
    maxBuffer: 16 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_S3: aws.endpoint,
      ARCHIVE_BUCKET: bucket,
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  });
  const measured = JSON.parse(stdout) as {
    result: { runs: number; parts: number; rows: number };
    seconds: number;
    cpuSeconds: number;
    peakRssMiB: number;
  };
  const report = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    bundle: { bytes: statSync(bundle).size, gzipBytes: gzipSync(code).byteLength },
    night: { conversations: copies.length, messages, loadSeconds },
    lambdaMemoryMb: TABLES_WRITER.memoryMb,
    nodeFlags: flags,
    ...measured,
  };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
} finally {
  await aws.stop();
  rmSync(outdir, { recursive: true, force: true });
}

/**
 * The child's probe (--sample-ms): a worker thread reads the process's VmRSS from /proc every `ms`
 * and records each rise of 16 MiB or more between two samples with what the main thread was doing:
 * the main thread says so through a shared array, from wrappers of the calls that may allocate much
 * (zstd compression, one call per Parquet page; Buffer.concat; Buffer.allocUnsafeSlow, the upload's
 * part buffers). Both functions run in the child as their source text, so they use no import. Linux
 * only (/proc).
 */
function probe(ms: number): string {
  return `const probe = await (${installProbe.toString()})(${ms}, ${JSON.stringify(`(${sampleRss.toString()})()`)});`;
}

/** Marks: 0 stop, 1 zstd calls, 2 last zstd input, 3 largest zstd input, 4 inside zstd, 5 last concat, 6 last part buffer. */
async function installProbe(ms: number, source: string) {
  const { Worker } = await import('node:worker_threads');
  const zlib = (await import('node:zlib')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const marks = new Float64Array(new SharedArrayBuffer(8 * 8));
  const zstd = zlib.zstdCompressSync;
  zlib.zstdCompressSync = ((input: Uint8Array, options?: object) => {
    marks[1] = (marks[1] ?? 0) + 1;
    marks[2] = input.byteLength;
    marks[3] = Math.max(marks[3] ?? 0, input.byteLength);
    marks[4] = 1;
    try {
      return zstd(input, options);
    } finally {
      marks[4] = 0;
    }
  }) as typeof zstd;
  syncBuiltinESMExports(); // the bundle's `import { zstdCompressSync } from 'node:zlib'` sees the wrapper
  const concat = Buffer.concat;
  Buffer.concat = ((list: Uint8Array[], length?: number) => {
    const out = concat(list, length);
    marks[5] = out.byteLength;
    return out;
  }) as typeof concat;
  const slow = Buffer.allocUnsafeSlow;
  Buffer.allocUnsafeSlow = (size: number) => {
    marks[6] = size;
    return slow(size);
  };
  const worker = new Worker(source, { eval: true, workerData: { marks: marks.buffer, ms } });
  const report = new Promise((resolve) => worker.once('message', resolve));
  return {
    async stop() {
      marks[0] = 1;
      return { ...((await report) as object), zstdCalls: marks[1], largestZstdInput: marks[3] };
    },
  };
}

/** The sampler, in its worker thread. */
function sampleRss() {
  // An eval'd worker of an ESM process is a module too, with no require.
  const { workerData, parentPort } = process.getBuiltinModule('node:worker_threads');
  const { readFileSync } = process.getBuiltinModule('node:fs');
  const marks = new Float64Array(workerData.marks);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const mib = (text: string, name: string) =>
    Math.round(Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / 1024);
  const jumps: object[] = [];
  const t0 = Date.now();
  let last = 0;
  let peak = 0;
  let samples = 0;
  while (marks[0] === 0) {
    const rss = mib(readFileSync('/proc/self/status', 'utf8'), 'VmRSS');
    samples++;
    if (rss - last >= 16)
      jumps.push({
        atS: (Date.now() - t0) / 1000,
        fromMiB: last,
        toMiB: rss,
        zstdCalls: marks[1],
        zstdInput: marks[2],
        inZstd: marks[4] === 1,
        concat: marks[5],
        partBuffer: marks[6],
      });
    last = rss;
    peak = Math.max(peak, rss);
    Atomics.wait(pause, 0, 0, workerData.ms);
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  parentPort?.postMessage({ samples, peakRssMiB: peak, vmHwmMiB: mib(status, 'VmHWM'), jumps });
}
