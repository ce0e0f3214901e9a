// A benchmark's child process as Lambda's Node runtime would run a function: one esbuild bundle
// with the stack's bundling options, started with the flags Lambda's bootstrap derives from the
// function's memory. Shared by the memory benchmarks (archive-rss, listing, tables-writer).
import { build } from 'esbuild';
import { AMIGO_FUNCTION_BUNDLING_DEFAULTS } from '../infra/constructs/amigo-function.ts';

/** V8's heap limits Lambda's bootstrap sets for `memoryMb`: a tenth young (half per semi-space), the rest old. */
export function lambdaHeapFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}

/** Lambda's Node bootstrap flags for a function of `memoryMb`, and the stack's NODE_OPTIONS. */
export function lambdaNodeFlags(memoryMb: number): string[] {
  return [
    '--enable-source-maps',
    '--expose-gc',
    '--max-http-header-size=81920',
    ...lambdaHeapFlags(memoryMb),
  ];
}

/** Bundles `entry` into `outfile` as the stack bundles a function (`AmigoFunction`). */
export async function bundleLikeLambda(entry: string, outfile: string): Promise<string> {
  const options = AMIGO_FUNCTION_BUNDLING_DEFAULTS;
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: options.minify ?? false,
    keepNames: options.keepNames ?? false,
    sourcemap: options.sourceMap ?? false,
    sourcesContent: options.sourcesContent ?? true,
    mainFields: [...(options.mainFields ?? [])],
    banner: { js: options.banner ?? '' },
    // The stack's `--alias from=to` (the env-only credentials provider).
    alias: Object.fromEntries(
      [String(options.esbuildArgs?.['--alias'] ?? '')]
        .filter(Boolean)
        .map((a) => a.split('=') as [string, string]),
    ),
    outfile,
    logLevel: 'error',
  });
  return outfile;
}
