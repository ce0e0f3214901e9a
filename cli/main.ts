#!/usr/bin/env node
// amigo-qa command line: `npm run cli -- <command>` or the `amigo-qa` bin.
import './env-defaults.ts';
import { Command } from 'commander';
import { AmigoQaError } from '../shared/errors.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerDeployedCommands } from './commands/deployed.ts';
import { registerRulesCommand } from './commands/rules.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSimulateCommand } from './commands/simulate.ts';

const program = new Command()
  .name('amigo-qa')
  .description(
    'Archive, tag and follow up Amigo conversations: a nightly QA pipeline that also runs on a laptop.',
  )
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

registerDemoCommand(program);
registerRunCommand(program);
registerRulesCommand(program);
registerSimulateCommand(program);
registerDeployedCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof AmigoQaError) {
    console.error(`amigo-qa: ${error.message}${error.hint ? `\n  hint: ${error.hint}` : ''}`);
  } else {
    console.error('amigo-qa:', error instanceof Error ? error.message : error);
  }
  process.exitCode = 1;
}
