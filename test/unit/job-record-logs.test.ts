// What an operator reads in CloudWatch when a job fails: the reason must be in the log line.
// Powertools drops a key named `message` (it is reserved); the job code runs here in a fresh process
// with its real logger, and its JSON lines are read back.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function logLines(script: string): Array<Record<string, unknown>> {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  expect(run.status, run.stderr).toBe(0);
  // Powertools writes warnings and errors to stderr, the rest to stdout.
  return `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const record = (receives: number) =>
  JSON.stringify({
    messageId: 'm-1',
    body: JSON.stringify({ deferrals: 0 }),
    attributes: { ApproximateReceiveCount: String(receives) },
    messageAttributes: {},
  });

const script = (receives: number) => `
  const { runJobRecord } = await import('./shared/runtime/job-worker.ts');
  const { PermanentError } = await import('./shared/errors.ts');
  const z = await import('zod');
  const deps = {
    schema: z.object({ deferrals: z.number() }),
    deadLetters: { send: async () => {} },
    requeue: async () => {},
    maxReceiveCount: 3,
  };
  await runJobRecord(${record(receives)}, deps, async () => {
    throw new Error('Amigo answered 404 for conversation 6650f0c1a2b3c4d5e6f70812');
  }).catch(() => {});
`;

describe('job failure logs', () => {
  it('when a job fails and will be delivered again, then the log line carries the reason', () => {
    const [line] = logLines(script(1)).filter((l) => l.message === 'Job failed; SQS will deliver it again');

    expect(line).toMatchObject({ code: 'Error', reason: expect.stringMatching(/answered 404/), receives: 1 });
  });

  it('when a job is dead-lettered, then the log line carries the reason', () => {
    const [line] = logLines(script(3)).filter((l) => l.message === 'Job dead-lettered');

    expect(line).toMatchObject({ code: 'Error', reason: expect.stringMatching(/answered 404/) });
  });
});
