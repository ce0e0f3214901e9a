// Powertools logger, metrics and tracer, created once per process and shared by every handler.
// Conversation text is health data: log ids, counts and reasons, never bodies or whole events.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

export const SERVICE_NAME = 'amigo-qa';
export const METRICS_NAMESPACE = 'AmigoQa';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, logger });
export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/** Metric names the CDK stack alarms on. */
export const METRIC = {
  archived: 'ConversationsArchived',
  alreadyArchived: 'ConversationsAlreadyArchived',
  archiveFailed: 'ConversationArchiveFailures',
  numMessagesMismatch: 'NumMessagesMismatch',
  audioBytes: 'AudioBytesArchived',
  throttleDeferrals: 'ThrottleDeferrals',
  enqueued: 'ArchiveJobsEnqueued',
  deadLettered: 'JobsDeadLettered',
  tagsPosted: 'TagPosts',
  tagsDropped: 'TagsDroppedAtLimit',
  stallsEnqueued: 'StallJobsEnqueued',
  stallScanFailures: 'StallScanFailures',
  recommendationsRequested: 'RecommendationsRequested',
  recommendationsRejected: 'RecommendationsRejected',
} as const;
