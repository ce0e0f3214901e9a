// Benchmark: the Lambda bundles `cdk deploy` ships, their size and cold import time.
//
//   npm run bench:bundles [-- --runs 15]
//
// Synthesizes the stack with its own bundling (test/support/lambda-bundles.ts, example config and
// rules) and reports per function: index.mjs bytes, gzip bytes (about what the zip costs), and the
// time to `import()` the bundle in a fresh Node 24 process (median and p90 of --runs processes;
// no handler invoked). For the record of the SDK decision (infra/constructs/amigo-function.ts) it
// builds the same entry a second time with the AWS SDK left external, resolved from this repo's
// node_modules as the runtime would resolve its own copy from /var/runtime, and times its import too.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { AMIGO_FUNCTION_BUNDLING_DEFAULTS } from '../infra/constructs/amigo-function.ts';
import { FUNCTIONS } from '../shared/contract/topology.ts';
import { buildLambdaBundles } from '../test/support/lambda-bundles.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    out: { type: 'string', default: 'bench/results/bundles.json' },
  },
});
const runs = Number(values.runs);
const run = promisify(execFile);

async function importMs(file: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, [
      '--input-type=module',
      '-e',
      `const t = performance.now(); await import(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t));`,
    ]);
    times.push(Number(stdout));
  }
  return times.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;

const outdir = mkdtempSync(join(tmpdir(), 'amigo-qa-bench-bundles-'));
// Inside the repo, so that the external variant resolves @aws-sdk/* from node_modules.
const externalDir = resolve('.amigo-qa/bench-bundles');
mkdirSync(externalDir, { recursive: true });
try {
  const bundles = buildLambdaBundles({
    outdir,
    config: 'examples/amigo-qa.yaml',
    rules: 'examples/rules.yaml',
  });
  const rows = [];
  for (const b of bundles) {
    const code = readFileSync(b.file);
    const bundled = await importMs(b.file);
    const externalFile = join(externalDir, `${b.name}.mjs`);
    await build({
      entryPoints: [FUNCTIONS[b.fn].entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      minify: true,
      keepNames: true,
      mainFields: [...(AMIGO_FUNCTION_BUNDLING_DEFAULTS.mainFields ?? [])],
      banner: { js: AMIGO_FUNCTION_BUNDLING_DEFAULTS.banner ?? '' },
      external: ['@aws-sdk/*'],
      outfile: externalFile,
      logLevel: 'error',
    });
    const external = await importMs(externalFile);
    rows.push({
      function: b.name,
      bytes: b.bytes,
      gzipBytes: gzipSync(code).length,
      importMs: { p50: Math.round(pct(bundled, 0.5)), p90: Math.round(pct(bundled, 0.9)) },
      sdkExternal: {
        bytes: readFileSync(externalFile).length,
        importMs: { p50: Math.round(pct(external, 0.5)), p90: Math.round(pct(external, 0.9)) },
      },
    });
  }
  console.log('function        bytes      gzip  import p50/p90 ms | SDK external: bytes  import p50/p90 ms');
  for (const r of rows) {
    console.log(
      `${r.function.padEnd(14)} ${String(r.bytes).padStart(8)} ${String(r.gzipBytes).padStart(8)}  ${`${r.importMs.p50}/${r.importMs.p90}`.padStart(14)} | ${String(r.sdkExternal.bytes).padStart(19)}  ${`${r.sdkExternal.importMs.p50}/${r.sdkExternal.importMs.p90}`.padStart(17)}`,
    );
  }
  const limit = 1024 * 1024;
  const pass = rows.every((r) => r.bytes < limit);
  console.log(pass ? 'PASS: every bundle under 1 MiB' : 'FAIL: a bundle is 1 MiB or more');
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString().slice(0, 10), node: process.version, runs, rows, pass }, null, 2)}\n`,
  );
  if (!pass) process.exitCode = 1;
} finally {
  rmSync(outdir, { recursive: true, force: true });
  rmSync(externalDir, { recursive: true, force: true });
}
