// What `cdk synth` gives each function besides its environment: the operator's pipeline config
// (and, for the tag worker only, the rules file), as the parsed file contents. Lambda allows 4 KB of
// environment per function and a rules file alone can exceed that, so the document travels inside
// the function's bundle instead: the stack passes it to esbuild as the constant
// `__AMIGO_QA_DEPLOYMENT__`. The stack validates it at synth with the same parsers this module runs
// at cold start, so a mistake fails `cdk synth` naming the field, and never the first night.
//
// A change of the config or rules changes the bundle, so `cdk deploy` ships it as new code.
import { type PipelineConfig, parsePipelineConfig } from '../config/pipeline-config.ts';
import { ConfigurationError } from '../errors.ts';
import { parseRules, type RuleSet } from '../rules/schema.ts';

/** The esbuild `define` name the stack sets (a JSON string literal). */
export const DEPLOYMENT_CONSTANT = '__AMIGO_QA_DEPLOYMENT__';

declare const __AMIGO_QA_DEPLOYMENT__: string | undefined;

export interface DeploymentDocument {
  readonly v: 1;
  /** The config file's content (rules path removed: the rules travel as `rules`). */
  readonly config: { readonly source: string; readonly value: unknown };
  /** The rules file's content; only in the bundles that evaluate rules. */
  readonly rules?: { readonly source: string; readonly value: unknown };
}

export interface Deployment {
  readonly config: PipelineConfig;
  readonly rules: RuleSet | undefined;
}

export function serializeDeployment(document: DeploymentDocument): string {
  return JSON.stringify(document);
}

/** Validates a document exactly as a cold start does (the stack calls this at synth). */
export function parseDeployment(text: string): Deployment {
  let document: DeploymentDocument;
  try {
    document = JSON.parse(text) as DeploymentDocument;
  } catch {
    throw new ConfigurationError('deployment', 'is not JSON', 'Deploy again with `npx cdk deploy`');
  }
  if (document?.v !== 1 || typeof document.config?.source !== 'string') {
    throw new ConfigurationError(
      'deployment',
      'was written by another version of amigo-qa',
      'Deploy again with `npx cdk deploy`',
    );
  }
  const config = parsePipelineConfig(
    document.config.value,
    `the deployed config (${document.config.source})`,
  );
  const rules = document.rules
    ? parseRules(document.rules.value, `the deployed rules (${document.rules.source})`)
    : undefined;
  return { config, rules };
}

/**
 * The document built into this bundle. Outside a bundle (tests running the handlers' source) the
 * name is an ordinary global, which a test may set on `globalThis`.
 */
export function embeddedDeployment(): Deployment {
  const text = typeof __AMIGO_QA_DEPLOYMENT__ === 'string' ? __AMIGO_QA_DEPLOYMENT__ : undefined;
  if (text === undefined) {
    throw new ConfigurationError(
      'deployment',
      'is not built into this function',
      'Deploy the functions with `npx cdk deploy -c config=<file>`; they cannot run without it',
    );
  }
  return parseDeployment(text);
}
