// Runs the real command line (`node cli/main.ts ...`) as a child process, with only the environment
// a test gives it (no AMIGO_* or AWS_* from the machine running the tests, HOME in a temp folder so no
// ~/.aws profile is read).
import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../../cli/main.ts', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  /** Set when the safety limit ended the process (a hang): the test then fails on `code`. */
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd: string;
  readonly env?: Record<string, string>;
  /** A safety net against a hang, not a measurement. @default 45000 */
  readonly limitMs?: number;
  /** Called with the output so far whenever more arrives (a test may signal the process from here). */
  readonly onOutput?: (output: { stdout: string; stderr: string; child: ChildProcess }) => void;
}

/**
 * Node's compile cache, shared by every CLI process the tests start: compiling the CLI's modules is a
 * third of each start's CPU (`cli/main.ts --help`: 1.8 s of CPU without the cache, 1.2 s with it), and
 * these tests start it about thirty times. Node checks each entry against the source, so a stale entry
 * is recompiled, never used; what the CLI does is the same either way.
 */
const COMPILE_CACHE = join(tmpdir(), 'amigo-qa-test-compile-cache');

export function baseEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    POWERTOOLS_METRICS_DISABLED: 'true',
    NODE_COMPILE_CACHE: COMPILE_CACHE,
  };
}

/** Starts `command args` and collects its output; resolves when it exits. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: CliOptions,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? {},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
      options.onOutput?.({ stdout, stderr, child });
    });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
      options.onOutput?.({ stdout, stderr, child });
    });
    const limit = setTimeout(() => {
      killed = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, options.limitMs ?? 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

export function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], options);
}

/** A long-running CLI command (simulate): resolves once `ready` matches its stdout so far. */
export function startCli(
  args: readonly string[],
  options: CliOptions & { ready: RegExp },
): Promise<{ child: ChildProcess; stdout: () => string; stop: () => Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: options.env ?? {},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let started = false;
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const stop = async () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      return exited;
    };
    // Never leave it running when it does not get ready (the test fails on the rejection).
    const limit = setTimeout(() => {
      if (started) return;
      void stop().then(() => reject(new Error(`not ready in time; stdout: ${stdout}; stderr: ${stderr}`)));
    }, options.limitMs ?? 30_000);
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
      if (!started && options.ready.test(stdout)) {
        started = true;
        clearTimeout(limit);
        resolve({ child, stdout: () => stdout, stop });
      }
    });
    child.on('error', reject);
    void exited.then((code) => {
      clearTimeout(limit);
      if (!started) reject(new Error(`exited with ${code} before it was ready: ${stderr}`));
    });
  });
}
