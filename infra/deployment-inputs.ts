// What `cdk synth` reads from the operator: the pipeline config file and the rules file, validated
// exactly as the functions will validate them at cold start, so a mistake fails the synth (naming
// the field) instead of the first night's run.
import { readFileSync } from 'node:fs';
import { loadPipelineConfig, type PipelineConfig } from '../shared/config/pipeline-config.ts';
import { loadRules, type RuleSet } from '../shared/rules/index.ts';

export interface DeploymentInputs {
  readonly config: PipelineConfig | undefined;
  readonly configJson: string | undefined;
  readonly rules: RuleSet | undefined;
  /** The rules file's text, as the tag worker receives it (RULES). */
  readonly rulesText: string | undefined;
}

/** `-c config=<file>` and `-c rules=<file>` (rules default to the config's `rules:`). */
export function loadDeploymentInputs(context: { config?: unknown; rules?: unknown }): DeploymentInputs {
  const configPath = typeof context.config === 'string' && context.config ? context.config : undefined;
  const config = configPath ? loadPipelineConfig(configPath) : undefined;
  const rulesPath =
    typeof context.rules === 'string' && context.rules ? context.rules : (config?.rules ?? undefined);
  const rules = rulesPath ? loadRules(rulesPath) : undefined;
  return {
    config,
    configJson: configPath ? JSON.stringify(config) : undefined,
    rules,
    rulesText: rulesPath ? readFileSync(rulesPath, 'utf8') : undefined,
  };
}
