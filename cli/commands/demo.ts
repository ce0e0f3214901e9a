// `amigo-qa demo` (what `npm start` runs): a simulated Amigo organisation and one whole nightly
// cycle against it on this machine, through the real SQS wire protocol of the embedded emulator,
// with the same handlers as in Lambda. No credentials; the archive lands in a local folder.

import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runLocalCycle } from '../../local/pipeline.ts';
import { resolveAmigoConfig } from '../../shared/amigo/config.ts';
import { defaultPipelineConfig } from '../../shared/config/pipeline-config.ts';
import { loadRules } from '../../shared/config/source-file.ts';
import { operationIds, operations } from '../../shared/openapi/index.ts';
import { startSimulator } from '../../sim/index.ts';
import { createProgress } from '../progress.ts';
import { printSummary } from './run.ts';

export interface DemoOptions {
  seed: number;
  conversations: number;
  archive: string;
  /** Published limits are enforced per minute divided by this. */
  rateScale: number;
  recordingMib: number;
  rules: string;
}

export async function runDemo(
  options: DemoOptions,
  out: (line: string) => void = console.log,
): Promise<boolean> {
  const archive = resolve(options.archive);
  await rm(archive, { recursive: true, force: true });
  const sim = await startSimulator({
    seed: options.seed,
    conversations: options.conversations,
    longConversations: 1,
    audio: { largeRecordings: 1, largeRecordingBytes: options.recordingMib * 1_048_576 },
    rateLimits: { enabled: true, scale: options.rateScale },
  });
  try {
    const windowMs = 60_000 / options.rateScale;
    out(
      `Amigo simulator: ${sim.url}, organization ${sim.organizationId}, ${options.conversations} conversations (seed ${options.seed})`,
    );
    out(
      `Rate limits: the published ones per ${windowMs} ms instead of per minute (a ${options.rateScale}x faster clock)`,
    );
    const amigo = resolveAmigoConfig({
      baseUrl: sim.url,
      organizationId: sim.organizationId,
      apiKey: sim.credentials.apiKey,
      apiKeyId: sim.credentials.apiKeyId,
      userId: sim.credentials.userId,
      rateLimits: Object.fromEntries(
        operationIds.map((id) => [id, { limit: operations[id].publishedLimit.limit, windowMs }]),
      ),
    });
    const progress = createProgress();
    out(`Rules: ${options.rules} (docs/rules.md)`);
    const result = await runLocalCycle({
      config: defaultPipelineConfig(),
      rules: loadRules(options.rules),
      amigo,
      archive,
      events: {
        onListed: (r) => progress.listed(r),
        onResult: (binding, failed, ok) => {
          if (binding === 'archive-worker') progress.finished(ok, failed);
        },
      },
    });
    progress.done();
    const complete = printSummary(result, out);
    const stats = sim.control.stats();
    out('');
    out('Amigo calls (status x count):');
    for (const [op, byStatus] of Object.entries(stats.calls)) {
      out(
        `  ${op.padEnd(38)} ${Object.entries(byStatus)
          .map(([s, n]) => `${s} x${n}`)
          .join('  ')}`,
      );
    }
    out('');
    out(`Look at: ${archive}/conversations/ (one folder per conversation; manifest.json lists every file)`);
    out('Run it again (npm start) to see a rerun; `npm run cli -- --help` for the real thing.');
    return complete;
  } finally {
    await sim.stop();
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the whole pipeline against a simulated Amigo organisation (what `npm start` does)')
    .option('--seed <n>', 'simulator seed', (v) => Number.parseInt(v, 10), 7)
    .option(
      '--conversations <n>',
      'conversations in the simulated organisation',
      (v) => Number.parseInt(v, 10),
      40,
    )
    .option('--archive <dir>', 'where the archive goes (emptied first)', '.amigo-qa/demo-archive')
    .option(
      '--rate-scale <x>',
      'run the rate-limit clock this many times faster',
      (v) => Number.parseFloat(v),
      120,
    )
    .option('--recording-mib <n>', 'size of the one long recording', (v) => Number.parseInt(v, 10), 64)
    .option('--rules <file>', 'tagging rules', 'examples/rules.yaml')
    .action(async (opts: DemoOptions) => {
      process.exitCode = (await runDemo(opts)) ? 0 : 1;
    });
}
