// `amigo-qa simulate`: runs the Amigo simulator in the foreground and prints the settings that point
// amigo-qa (or anything using the official Amigo SDK variable names) at it.
import { type Command, InvalidArgumentError } from 'commander';
import { startSimulator } from '../../sim/index.ts';
import { shellWord } from '../shell-word.ts';

function integer(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

/** The lines that point amigo-qa at a running simulator, pasteable into a POSIX shell. */
export function exportLines(vars: Readonly<Record<string, string>>): string[] {
  return Object.entries(vars).map(([name, value]) => `export ${name}=${shellWord(value)}`);
}

export interface SimulateCommandOptions {
  port: number;
  seed: number;
  conversations: number;
  host: string;
  rateScale?: number;
  rateLimits: boolean;
  largeRecordings: number;
}

/**
 * Registers `simulate`: the Amigo API simulator until Ctrl-C, printing the AMIGO_* exports that
 * point `run` at it.
 *
 * @example
 * ```sh
 * npm run cli -- simulate --port 4010 --conversations 200 --rate-scale 60
 * # in another shell, after pasting the printed exports:
 * npm run cli -- run --archive ./archive --rate-scale 60
 * ```
 */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description(
      'Run the Amigo API simulator until interrupted (Ctrl-C), for trying amigo-qa without an Amigo account.',
    )
    .option('--port <n>', 'port to listen on (0 picks a free one)', integer('--port', 0, 65_535), 4010)
    .option('--seed <s>', 'seed of the generated data', integer('--seed', 0, 2 ** 31 - 1), 1)
    .option(
      '--conversations <k>',
      'number of generated conversations',
      integer('--conversations', 0, 1_000_000),
      40,
    )
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option(
      '--rate-scale <x>',
      'divide every published rate-limit window by x (60 makes 15/min into 15/s)',
      positive,
    )
    .option('--no-rate-limits', 'turn rate limiting off')
    .option(
      '--large-recordings <n>',
      'number of 300 MiB voice recordings',
      integer('--large-recordings', 0, 100),
      1,
    )
    .action(async (options: SimulateCommandOptions) => {
      const sim = await startSimulator({
        port: options.port,
        seed: options.seed,
        conversations: options.conversations,
        host: options.host,
        rateLimits: {
          enabled: options.rateLimits,
          ...(options.rateScale !== undefined ? { scale: options.rateScale } : {}),
        },
        audio: { largeRecordings: options.largeRecordings },
      });
      console.log(
        `Amigo simulator listening on ${sim.url} (seed ${options.seed}, ${options.conversations} conversations)`,
      );
      // The simulator's own made-up credentials: printing them is the point (they open nothing else).
      console.log('Paste these into the shell that runs amigo-qa:');
      for (const line of exportLines({
        AMIGO_BASE_URL: sim.url,
        AMIGO_ORGANIZATION_ID: sim.organizationId,
        AMIGO_API_KEY: sim.credentials.apiKey,
        AMIGO_API_KEY_ID: sim.credentials.apiKeyId,
        AMIGO_USER_ID: sim.credentials.userId,
      })) {
        console.log(line);
      }
      console.log(
        `Then: npm run cli -- run --archive ./archive${options.rateScale !== undefined ? ` --rate-scale ${options.rateScale}` : ''}`,
      );
      console.log(
        `Control: ${sim.url}/__sim/stats, ${sim.url}/__sim/clock, ${sim.url}/__sim/conversations. Ctrl-C stops.`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          console.log(`\n${signal}: stopping the simulator.`);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await sim.stop();
    });
}
