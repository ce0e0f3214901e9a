#!/usr/bin/env node
// amigo-qa command line: `npm run cli -- <command>` or the `amigo-qa` bin.
import './env-defaults.ts';
import { Command } from 'commander';
import { registerDemoCommand } from './commands/demo.ts';
import { registerDeployedCommands } from './commands/deployed.ts';
import { registerQueryCommand } from './commands/query.ts';
import { registerReportCommand } from './commands/report.ts';
import { registerRulesCommand } from './commands/rules.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSimulateCommand } from './commands/simulate.ts';
import { registerTablesCommand } from './commands/tables.ts';
import { formatError } from './format-error.ts';

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
registerReportCommand(program);
registerQueryCommand(program);
registerSimulateCommand(program);
registerTablesCommand(program);
registerDeployedCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  console.error(`amigo-qa: ${formatError(error)}`);
  process.exitCode = 1;
}
