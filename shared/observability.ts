// Powertools logger and metrics, created once per process and shared by every handler.
// Conversation text is health data: log ids, counts and reasons, never bodies or whole events.
//
// No Powertools Tracer: it is built on the AWS X-Ray SDK for Node.js, in maintenance since
// 2026-02-25 and out of support from 2027-02-25 (AWS recommends OpenTelemetry), and it was 135 KB
// of every Lambda bundle. The functions keep X-Ray active tracing, which Lambda records itself.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME } from './contract/metric-names.ts';
import type { Telemetry } from './ports/telemetry.ts';

export { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from './contract/metric-names.ts';

export const logger = new Logger({ serviceName: SERVICE_NAME });
/**
 * Metrics' own warnings go to our logger, except "No application metrics to publish": an invocation
 * that counted nothing (a hand-over, a batch of duplicates) is normal here, and the line was one
 * WARN per such invocation in CloudWatch.
 */
const metricsLogger = {
  debug: logger.debug.bind(logger),
  info: logger.info.bind(logger),
  error: logger.error.bind(logger),
  warn: (...content: unknown[]) => {
    if (typeof content[0] === 'string' && content[0].startsWith('No application metrics to publish')) return;
    Reflect.apply(logger.warn, logger, content);
  },
};

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: SERVICE_NAME,
  logger: metricsLogger,
});

/** The stages' telemetry port, served by the Powertools logger and metrics. */
export const telemetry: Telemetry = { log: logger, metrics };
