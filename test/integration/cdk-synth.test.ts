// The command the deployment guide gives, run as an operator runs it: `npx cdk synth` with the
// example config and rules (infra/app.ts, real bundling, cdk-nag's AwsSolutions and HIPAA packs),
// offline and without credentials. And the same command refusing a config with a mistake.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'amigo-qa-synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function synth(...context: string[]) {
  const env = { ...process.env };
  // No credentials and no account: the template must not need them.
  for (const name of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'CDK_DEFAULT_ACCOUNT'])
    delete env[name];
  return run(
    'npx',
    ['cdk', 'synth', '-q', '-o', join(dir, 'cdk.out'), ...context.flatMap((c) => ['-c', c])],
    {
      env,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
}

describe('npx cdk synth', () => {
  it('when given the example config and rules, then it synthesizes the whole pipeline with cdk-nag clean', async () => {
    await synth('config=examples/amigo-qa.yaml', 'rules=examples/rules.yaml');

    const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'AmigoQa.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    // The four queue-fed functions and the tables writer; the nightly, hourly archive, stall-scan and
    // tables schedules.
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(5);
    expect(types.filter((t) => t === 'AWS::Scheduler::Schedule')).toHaveLength(4);
    expect(types.filter((t) => t === 'AWS::Glue::Table')).toHaveLength(5);
    expect(types.filter((t) => t === 'AWS::Athena::WorkGroup')).toHaveLength(1);
    // The packs ran (app.ts registers both; a finding would have failed the command) and found nothing.
    const report = JSON.parse(readFileSync(join(dir, 'cdk.out', 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.flatMap((p: { violations: unknown[] }) => p.violations)).toEqual([]);
  }, 180_000);

  it('when the config has a mistake, then the synth fails naming the field, the file and line, and the fix', async () => {
    const config = join(dir, 'amigo-qa.yaml');
    writeFileSync(config, 'deploy:\n  timezone: Europe/Berln\n');

    const error = (await synth(`config=${config}`).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };

    expect(error.code).not.toBe(0);
    expect(error.stderr).toMatch(
      /deploy\.timezone: "Europe\/Berln" is not a time zone \(in .*amigo-qa\.yaml, line 2\)/,
    );
    expect(error.stderr).toMatch(/Did you mean "Europe\/Berlin"/);
  }, 120_000);

  it('when -c organization is not an organisation id, then the synth fails naming it and the form', async () => {
    const error = (await synth('organization=acme corp').catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };

    expect(error.code).not.toBe(0);
    expect(error.stderr).toMatch(/-c organization: "acme corp" is not an Amigo organisation id/);
    expect(error.stderr).toMatch(/like -c organization=acme/);
  }, 120_000);
});
