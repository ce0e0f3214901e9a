// The alarms and the dashboard watch metrics by namespace, name and dimensions; the functions emit
// them through Powertools (EMF lines). Here the functions' own metrics module runs in a fresh
// process with metrics on, and its EMF output is held against what the template watches.
import { spawnSync } from 'node:child_process';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDeploymentInputs } from '../../../infra/deployment-inputs.ts';
import { AmigoQaStack } from '../../../infra/stacks/amigo-qa-stack.ts';
import { METRIC } from '../../../shared/contract/metric-names.ts';
import { createTestApp, removeTestOutdirs } from './cdk-test-app.ts';
import { type Cfn, resourcesOf } from './template-json.ts';

afterAll(removeTestOutdirs);

interface Emitted {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

/** Runs `code` (with `metrics`, `METRIC` and `MeteredRateBudget` in scope) and parses the EMF lines it prints. */
function emitted(code: string): Emitted[] {
  const script = `
    const { metrics, METRIC } = await import('./shared/observability.ts');
    const { MeteredRateBudget } = await import('./shared/runtime/metered-budget.ts');
    ${code}
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_LOG_LEVEL: 'ERROR' },
  });
  expect(run.stderr).toBe('');
  return run.stdout
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .flatMap((line) => {
      const record = JSON.parse(line) as Record<string, Cfn>;
      const directive = record._aws.CloudWatchMetrics[0];
      const dimensions = Object.fromEntries(
        (directive.Dimensions[0] as string[]).map((d) => [d, String(record[d])]),
      );
      return (directive.Metrics as { Name: string }[]).map((m) => ({
        namespace: directive.Namespace,
        name: m.Name,
        dimensions,
      }));
    });
}

describe('metrics the template watches', () => {
  const stack = new AmigoQaStack(createTestApp(), 'AmigoQa', {
    env: { account: '123456789012', region: 'us-east-1' },
    inputs: loadDeploymentInputs({ config: 'examples/amigo-qa.yaml' }),
  });
  const template = Template.fromStack(stack);
  // The dashboard body is a JSON string inside the template: unescape its quotes to search it.
  const dashboard = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard')).replaceAll(
    '\\"',
    '"',
  );
  const watched = Object.values(resourcesOf(template))
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
    .flatMap((r) => (r.Properties.Metrics ?? []).map((m: Cfn) => m.MetricStat?.Metric))
    .filter(Boolean);

  it('when the scheduler finishes a listing, then its EMF record is the metric the freshness alarm watches', () => {
    const [record] = emitted(
      `metrics.addMetric(METRIC.listingsCompleted, 'Count', 1); metrics.publishStoredMetrics();`,
    );
    const alarm = watched.find((m: Cfn) => m.MetricName === METRIC.listingsCompleted);

    expect(record).toEqual({
      namespace: alarm.Namespace,
      name: alarm.MetricName,
      dimensions: Object.fromEntries(alarm.Dimensions.map((d: Cfn) => [d.Name, d.Value])),
    });
  });

  it('when Amigo answers calls, then the per-operation metrics carry the dimensions the dashboard graphs', () => {
    const records = emitted(`
      const budget = new MeteredRateBudget({ acquire: async () => 0, observe: () => {} });
      budget.observe('get-interaction-insights', { status: 429 });
      budget.publish();
    `);

    expect(records).toEqual([
      {
        namespace: 'AmigoQa',
        name: METRIC.amigoCalls,
        dimensions: { service: 'amigo-qa', operation: 'get-interaction-insights' },
      },
      {
        namespace: 'AmigoQa',
        name: METRIC.amigoThrottled,
        dimensions: { service: 'amigo-qa', operation: 'get-interaction-insights' },
      },
    ]);
    for (const name of [METRIC.amigoCalls, METRIC.amigoThrottled]) {
      expect(
        dashboard.includes(`"AmigoQa","${name}","operation","get-interaction-insights","service","amigo-qa"`),
        name,
      ).toBe(true);
    }
  });

  it('when a listing takes its budget outlook, then its EMF records are what the catch-up alarm and the dashboard watch', () => {
    const records = emitted(`
      const { reportOutlook } = await import('./shared/stages/run-scheduler.ts');
      const { telemetry } = await import('./shared/observability.ts');
      const outlook = {
        operations: { 'get-interaction-insights': { budget_share: 0.62 } },
        backlog: 12, catch_up: 'estimated', catch_up_hours: 3.5,
      };
      reportOutlook({ status: 'listed', runId: 'r', outlook }, telemetry);
      metrics.publishStoredMetrics();
    `);
    const alarm = watched.find((m: Cfn) => m.MetricName === METRIC.catchUpHours);
    const service = { service: 'amigo-qa' };

    expect(records).toEqual([
      {
        namespace: 'AmigoQa',
        name: METRIC.budgetUsedShare,
        dimensions: { ...service, operation: 'get-interaction-insights' },
      },
      { namespace: 'AmigoQa', name: METRIC.backlog, dimensions: service },
      { namespace: 'AmigoQa', name: METRIC.catchUpHours, dimensions: service },
    ]);
    expect(Object.fromEntries(alarm.Dimensions.map((d: Cfn) => [d.Name, d.Value]))).toEqual(service);
    expect(
      dashboard.includes(
        `"AmigoQa","${METRIC.budgetUsedShare}","operation","get-interaction-insights","service","amigo-qa"`,
      ),
    ).toBe(true);
    expect(dashboard.includes(`"AmigoQa","${METRIC.backlog}","service","amigo-qa"`)).toBe(true);
  }, 20_000);
});
