import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { DefaultDashboardFactory, MonitoringFacade, SnsAlarmActionStrategy } from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import {
  CATCH_UP_NEVER_HOURS,
  METRIC,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../shared/contract/metric-names.ts';
import { type OperationId, operationIds } from '../../shared/openapi/index.ts';

export interface PipelineMonitoringProps {
  /** Every alarm notifies this topic. */
  readonly topic: ITopic;
  readonly functions: readonly { readonly name: string; readonly function: IFunction }[];
  readonly queues: readonly {
    readonly name: string;
    readonly queue: IQueue;
    readonly deadLetterQueue: IQueue;
    /** Alarm when the oldest message is older than this; absent: no age alarm. */
    readonly maxAge?: Duration;
  }[];
  /** Dead-letter queues without a work queue of their own (failed schedule invocations). */
  readonly deadLetterQueues: readonly { readonly name: string; readonly queue: IQueue }[];
  /**
   * Alarm when no full-lookback (nightly) listing completed for this long (the nightly run did not happen, or never finished).
   * @default Duration.hours(26)
   */
  readonly maxTimeWithoutListing?: Duration;
  /**
   * Alarm when a run's outlook expects the backlog to take longer than this to drain (or never to).
   * @default Duration.hours(24)
   */
  readonly maxCatchUp?: Duration;
}

/**
 * The pipeline's alarms and dashboard, built with cdklabs' cdk-monitoring-constructs: every
 * dead-letter queue not empty, the archive queue's oldest message too old, any function error or
 * throttle, freshness (no nightly listing completed in 26 h; missing data breaches), and the budget
 * outlook's catch-up over a day. The dashboard shows the same plus conversations archived, the
 * budget used and the backlog, and Amigo calls and 429s per operation.
 */
export class PipelineMonitoring extends Construct {
  readonly facade: MonitoringFacade;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    this.facade = new MonitoringFacade(this, 'Facade', {
      alarmFactoryDefaults: {
        alarmNamePrefix: 'AmigoQa',
        actionsEnabled: true,
        action: new SnsAlarmActionStrategy({ onAlarmTopic: props.topic }),
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
      },
      metricFactoryDefaults: {},
      dashboardFactory: new DefaultDashboardFactory(this, 'Dashboards', {
        dashboardNamePrefix: 'AmigoQa',
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });

    const listings = new Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.listingsCompleted,
      dimensionsMap: { service: SERVICE_NAME },
      statistic: 'Sum',
      period: Duration.hours(1),
      label: 'Listings completed',
    });
    const hours = (props.maxTimeWithoutListing ?? Duration.hours(26)).toHours();
    const maxCatchUp = props.maxCatchUp ?? Duration.hours(24);
    this.facade.monitorCustom({
      alarmFriendlyName: 'Pipeline',
      humanReadableName: 'amigo-qa pipeline',
      metricGroups: [
        {
          title: 'Conversations',
          metrics: [
            pipelineMetric(METRIC.archived, 'Archived'),
            pipelineMetric(METRIC.archiveFailed, 'Failed (dead-lettered)'),
            pipelineMetric(METRIC.numMessagesMismatch, 'num_messages mismatch'),
          ],
        },
        {
          title: 'Nightly listing',
          metrics: [
            {
              metric: listings,
              alarmFriendlyName: 'Freshness',
              addAlarm: {
                Critical: {
                  threshold: 1,
                  comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
                  // Hourly datapoints: every one of the last `hours` empty or zero.
                  evaluationPeriods: hours,
                  datapointsToAlarm: hours,
                  treatMissingDataOverride: TreatMissingData.BREACHING,
                  alarmDescriptionOverride: `No nightly (full-lookback) listing completed in ${hours} hours: the nightly run did not start or did not finish. Check the scheduler's logs and the schedule's dead-letter queue.`,
                },
              },
            },
          ],
        },
        {
          title: 'Budget used since the previous run (1 = all of it)',
          metrics: operationIds.map((op) => outlookMetric(METRIC.budgetUsedShare, op, { operation: op })),
        },
        {
          title: 'Backlog: conversations waiting to be archived',
          metrics: [outlookMetric(METRIC.backlog, 'Waiting')],
        },
        {
          title: `Expected catch-up (hours; ${CATCH_UP_NEVER_HOURS}: never)`,
          metrics: [
            {
              metric: outlookMetric(METRIC.catchUpHours, 'Catch-up hours'),
              alarmFriendlyName: 'CatchUp',
              addAlarm: {
                Warning: {
                  threshold: maxCatchUp.toHours(),
                  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                  // No listing, no datapoint: the freshness alarm says that; this one is about the backlog.
                  treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                  alarmDescriptionOverride: `The archive backlog is expected to take more than ${maxCatchUp.toHours()} hours to drain (${CATCH_UP_NEVER_HOURS}: never, the arrivals alone use the whole budget). The latest run record's outlook names the bottleneck operation and the backlog; options: a higher Amigo rate limit, fewer services, a shorter lookback.`,
                },
              },
            },
          ],
        },
        {
          title: 'Amigo calls per operation',
          metrics: operationIds.map((op) => amigoMetric(METRIC.amigoCalls, op)),
        },
        {
          title: 'Amigo 429s per operation',
          metrics: operationIds.map((op) => amigoMetric(METRIC.amigoThrottled, op)),
        },
      ],
    });

    for (const { name, function: fn } of props.functions) {
      this.facade.monitorLambdaFunction({
        lambdaFunction: fn,
        humanReadableName: name,
        alarmFriendlyName: name,
        addFaultCountAlarm: { Critical: { maxErrorCount: 0 } },
        addThrottlesCountAlarm: { Critical: { maxErrorCount: 0 } },
      });
    }
    for (const { name, queue, deadLetterQueue, maxAge } of props.queues) {
      this.facade.monitorSqsQueueWithDlq({
        queue,
        deadLetterQueue,
        humanReadableName: `${name} queue`,
        alarmFriendlyName: `${name}-queue`,
        addDeadLetterQueueMaxSizeAlarm: { Critical: { maxMessageCount: 0 } },
        ...(maxAge
          ? { addQueueMaxMessageAgeAlarm: { Warning: { maxAgeInSeconds: maxAge.toSeconds() } } }
          : {}),
      });
    }
    for (const { name, queue } of props.deadLetterQueues) {
      this.facade.monitorSqsQueue({
        queue,
        humanReadableName: name,
        alarmFriendlyName: name,
        addQueueMaxSizeAlarm: { Critical: { maxMessageCount: 0 } },
      });
    }
  }
}

function pipelineMetric(metricName: string, label: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: 'Sum',
    period: Duration.hours(1),
    label,
  });
}

function amigoMetric(metricName: string, operation: OperationId): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME, operation },
    statistic: 'Sum',
    period: Duration.minutes(5),
    label: operation,
  });
}

/** An outlook figure: one per completed listing, so the hour's latest (Maximum) is the one to show. */
function outlookMetric(metricName: string, label: string, dimensions: Record<string, string> = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME, ...dimensions },
    statistic: 'Maximum',
    period: Duration.hours(1),
    label,
  });
}
