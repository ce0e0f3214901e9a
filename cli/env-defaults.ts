// Imported first by the CLI: Powertools reads these when the handlers' modules load. On a laptop
// the command prints its own progress and summary, so the JSON logs and EMF metric lines that
// CloudWatch wants stay off unless asked for (--verbose or the variables themselves).
const verbose = process.argv.includes('--verbose');
process.env.POWERTOOLS_LOG_LEVEL ??= verbose ? 'INFO' : 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
