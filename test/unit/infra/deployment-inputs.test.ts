import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deploymentDocument, loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { defaultPipelineConfig } from '../../../shared/config/pipeline-config.ts';
import { parseDeployment } from '../../../shared/contract/deployment.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'synth-inputs-'));
  dirs.push(dir);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('loadDeploymentInputs (what cdk synth validates)', () => {
  it('when the example config and rules are given, then both load', () => {
    const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });

    expect(inputs.config.archive.lookbackMs).toBeGreaterThan(0);
    expect(inputs.rules?.ruleSet.rules.length).toBeGreaterThan(0);
    expect(inputs.rules?.file.source).toBe('rules.yaml');
    expect(inputs.configFile.source).toBe('amigo-qa.yaml');
  });

  it('when built, then only the tag worker carries the rules, and each document parses as its cold start will', () => {
    const inputs = loadDeploymentInputs({ config: 'examples/amigo-qa.yaml', rules: 'examples/rules.yaml' });

    const tag = JSON.parse(deploymentDocument(inputs, 'tagWorker'));
    const archive = JSON.parse(deploymentDocument(inputs, 'archiveWorker'));

    expect(Object.keys(tag.rules.value)).toContain('rules');
    expect(archive.rules).toBeUndefined();
    expect(JSON.stringify(archive)).not.toContain('examples/');
    expect(parseDeployment(deploymentDocument(inputs, 'tagWorker')).rules?.rules.length).toBe(
      inputs.rules?.ruleSet.rules.length,
    );
  });

  it('when a rule is invalid, then synth fails naming the rule and the field', async () => {
    const rules = await tempFile(
      'rules.yaml',
      'rules:\n  - name: broken\n    when: { messages: { contians: help } }\n    set: { a: b }\n',
    );

    expect(() => loadDeploymentInputs({ rules })).toThrow(/broken.*contians/s);
  });

  it('when the config has a bad value, then synth fails naming the field path', async () => {
    const config = await tempFile('amigo-qa.yaml', 'archive:\n  lookback: 7 weeks\n');

    expect(() => loadDeploymentInputs({ config })).toThrow(/archive\.lookback/);
  });

  it('when nothing is given, then every default applies and there are no rules', () => {
    const inputs = loadDeploymentInputs({});

    expect(inputs.config).toEqual(defaultPipelineConfig());
    expect(inputs.rules).toBeUndefined();
    expect(inputs.configFile).toEqual({ source: 'the defaults', value: {} });
  });
});
