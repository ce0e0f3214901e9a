// What `cdk synth` reads from the operator: the pipeline config file (`-c config=<file>`) and the
// rules file (`-c rules=<file>`, or the config's `rules:`). Both are validated here with the
// parsers the CLI uses, and each function's deployment document (what its bundle carries, see
// shared/contract/deployment.ts) is validated again exactly as that function's cold start will,
// so a mistake fails the synth naming the field instead of failing the first night's run.

import { basename } from 'node:path';
import { defaultPipelineConfig, type PipelineConfig } from '../shared/config/pipeline-config.ts';
import { loadPipelineConfig, loadRules, readSourceFile } from '../shared/config/source-file.ts';
import {
  type DeploymentDocument,
  parseDeployment,
  serializeDeployment,
} from '../shared/contract/deployment.ts';
import type { FunctionId } from '../shared/contract/topology.ts';
import type { RuleSet } from '../shared/rules/schema.ts';

export interface DeploymentInputs {
  /** The validated config (every default when no file was given). */
  readonly config: PipelineConfig;
  /** The config file's content as written (the document the functions parse), rules path removed. */
  readonly configFile: { readonly source: string; readonly value: unknown };
  /** The rules, when a rules file is given or named by the config. */
  readonly rules:
    | { readonly ruleSet: RuleSet; readonly file: { readonly source: string; readonly value: unknown } }
    | undefined;
}

/** Lambda's own limit is not the concern here: a `define` this long would strain esbuild's command line. */
const MAX_DOCUMENT_BYTES = 100_000;

/** `-c config=<file>` and `-c rules=<file>` (rules default to the config's `rules:`). */
export function loadDeploymentInputs(context: { config?: unknown; rules?: unknown }): DeploymentInputs {
  const configPath = typeof context.config === 'string' && context.config ? context.config : undefined;
  const config = configPath ? loadPipelineConfig(configPath) : defaultPipelineConfig();
  const raw = configPath
    ? readSourceFile(configPath, 'config file', 'Check the path given with -c config=').input
    : {};
  const { rules: _rulesPath, ...value } = (raw ?? {}) as Record<string, unknown>;
  const rulesPath =
    typeof context.rules === 'string' && context.rules ? context.rules : (config.rules ?? undefined);
  const rules = rulesPath
    ? {
        ruleSet: loadRules(rulesPath),
        file: {
          source: basename(rulesPath),
          value: readSourceFile(rulesPath, 'rules file', 'Check the path given with -c rules=').input,
        },
      }
    : undefined;
  const inputs: DeploymentInputs = {
    config,
    configFile: { source: configPath ? basename(configPath) : 'the defaults', value },
    rules,
  };
  for (const fn of ['scheduler', 'tagWorker'] as const) deploymentDocument(inputs, fn);
  return inputs;
}

/**
 * The document built into `fn`'s bundle, already checked by the parser its cold start runs. Only
 * the tag worker carries the rules.
 */
export function deploymentDocument(inputs: DeploymentInputs, fn: FunctionId): string {
  const document: DeploymentDocument = {
    v: 1,
    config: inputs.configFile,
    ...(fn === 'tagWorker' && inputs.rules ? { rules: inputs.rules.file } : {}),
  };
  const text = serializeDeployment(document);
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) {
    throw new Error(
      `The config and rules files come to ${Buffer.byteLength(text)} bytes; the functions take up to ${MAX_DOCUMENT_BYTES}. Shorten the rules file`,
    );
  }
  parseDeployment(text);
  return text;
}
