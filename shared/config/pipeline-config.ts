// The pipeline configuration file (`--config amigo-qa.yaml`): what to archive, how hard to call
// Amigo, when an interaction counts as stalled. YAML or JSON, validated once at start-up; every
// mistake fails naming the field path, the file (and line), and the fix. Unknown keys are errors
// with a "did you mean", so a typo never silently falls back to a default. Credentials never live
// here: the AMIGO_* environment variables carry them (shared/amigo/config.ts).
import { resolve } from 'node:path';
import * as z from 'zod';
import { resolveRateLimits } from '../amigo/rate-limit.ts';
import { ConfigurationError } from '../errors.ts';
import { OBJECT_ID } from '../ids.ts';
import { type OperationId, operationIds, type RateLimit } from '../openapi/index.ts';
import { DEFAULT_RESERVE_SHARE } from '../ports/rate-budget.ts';
import { durationIn, formatDuration, readRate } from './grammar.ts';
import { didYouMean, suggest } from './suggest.ts';
import {
  booleanOf,
  deepFreeze,
  describe,
  formatPath,
  Invalid,
  leaf,
  locate,
  type Path,
  type Problem,
  problemsOf,
  SERVICE_ID_FIX,
  serviceIdOf,
  TAG_PATTERN,
  textOf,
  unknownKeyFix,
} from './validation.ts';

// ---------------------------------------------------------------------------------------------
// The resolved configuration
// ---------------------------------------------------------------------------------------------

/** A tag written back to Amigo, e.g. `{ key: "stalled", value: "yes" }`; `value: null` is a bare tag. */
export interface TagSpec {
  readonly key: string;
  readonly value: string | null;
}

/**
 * One rule of `archive.priorities`: a conversation matching every condition it gives goes first (the
 * priority archive queue, and the high class at the rate budget).
 */
export interface PriorityRule {
  /** Conversations of these services (24-hex ids); null: any service. */
  readonly serviceIds: readonly string[] | null;
  /** Conversations created at most this long before the run lists them; null: any age. */
  readonly newerThanMs: number | null;
}

/** The validated configuration, defaults filled in: durations in milliseconds, dates as ISO strings. */
export interface PipelineConfig {
  readonly amigo: {
    /** Every operation's budget: the published limit, or the file's override. */
    readonly rateLimits: Readonly<Record<OperationId, RateLimit>>;
    /** Time allowed for one HTTP attempt. @default 30s */
    readonly timeoutMs: number;
    /** Attempts per call on failures (5xx, network, timeouts). @default 6 */
    readonly maxAttempts: number;
    /**
     * Share of each operation's limit that archive jobs leave free while stall work or prioritised
     * archives used the operation in the last two windows (shared/ports/rate-budget.ts). @default 0.2
     */
    readonly priorityReserve: number;
  };
  readonly filters: {
    /** Only conversations of these services (24-hex ids); empty means every service. */
    readonly serviceIds: readonly string[];
  };
  readonly archive: {
    /** How far back each run looks for finished conversations. @default 7d */
    readonly lookbackMs: number;
    /**
     * How far back the runs between nightly ones (`deploy.archiveEvery`) look; the nightly run keeps
     * `lookbackMs`. @default 1d, or `lookbackMs` when that is shorter
     */
    readonly hourlyLookbackMs: number;
    /** Finished conversations Amigo has not analysed yet wait for a later run. @default true */
    readonly deferUnanalyzed: boolean;
    /** A message-count mismatch fails the conversation instead of flagging it. @default false */
    readonly strict: boolean;
    /** Backfill start (ISO datetime, UTC); when set it replaces `lookbackMs` as the window start. */
    readonly since: string | null;
    /** Archive voice recordings. @default true */
    readonly audio: boolean;
    /** Interactions whose insights are fetched at once, per conversation. @default 4 */
    readonly insightsConcurrency: number;
    /** Conversations archived before the others when any rule matches; empty: all alike. @default [] */
    readonly priorities: readonly PriorityRule[];
  };
  readonly run: {
    /**
     * Local runner: archive invocations in parallel; null: as many as in AWS (shared/contract/topology.ts
     * derives it from the insights budget). @default null
     */
    readonly workers: number | null;
    /** Deliveries of one job before it goes to the dead-letter queue, in AWS and locally. @default 5 */
    readonly maxReceiveCount: number;
  };
  readonly stall: {
    /** An interaction with no reply for this long is stalled. @default 30m */
    readonly afterMs: number;
    /** Tag written on conversations with a stalled interaction; null: no tag. @default null */
    readonly tag: TagSpec | null;
    /** Service id -> the context text sent with recommend-responses for that service. */
    readonly contexts: Readonly<Record<string, string>>;
  };
  /** Absolute path of the rules file (given relative to the config file), or null. */
  readonly rules: string | null;
  /** How `cdk deploy` builds the pipeline in AWS (the local runner ignores it). */
  readonly deploy: DeploySettings;
}

/** S3 storage classes a lifecycle rule can move archived objects to. */
export const STORAGE_CLASSES = [
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type StorageClassName = (typeof STORAGE_CLASSES)[number];

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export interface DeploySettings {
  /** When the nightly run starts, in `timezone`. @default 02:00 UTC */
  readonly nightly: { readonly hour: number; readonly minute: number; readonly timezone: string };
  /** How often the stall-only scan runs; null: only with the nightly run. @default 15m */
  readonly stallScanEveryMs: number | null;
  /**
   * Archive runs between nightly runs, every this many hours (counted from the nightly run), with
   * `archive.hourlyLookbackMs`; null: the nightly run only. @default 1
   */
  readonly archiveEveryHours: number | null;
  /** Subscribed to the alarm topic (SNS asks it to confirm); null: subscribe later. @default null */
  readonly alarmEmail: string | null;
  /** An existing Secrets Manager secret with the AMIGO_* values; null: the stack creates one. */
  readonly secretArn: string | null;
  /** Alarm when the oldest waiting archive job is older than this. @default 6h */
  readonly maxArchiveJobAgeMs: number;
  /** Retention of the functions' logs (logs can carry ids and reasons, never message text). @default 30 */
  readonly logRetentionDays: (typeof LOG_RETENTION_DAYS)[number];
  readonly archive: {
    /** Lifecycle transitions of archived objects, by age. @default none */
    readonly transitions: readonly { readonly storageClass: StorageClassName; readonly afterDays: number }[];
    /** Overwritten or deleted versions (watermark, run records) are removed after this. @default 30 */
    readonly noncurrentVersionExpiryDays: number;
    /** S3 Object Lock default retention for regulated archives; null: off. @default null */
    readonly objectLock: {
      readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
      readonly retentionDays: number;
    } | null;
  };
}

/** Command-line flags that override the file (`--since`, `--strict`, `--workers`, `--lookback`). */
export interface PipelineOverrides {
  readonly since?: string | undefined;
  readonly strict?: boolean | undefined;
  readonly workers?: number | string | undefined;
  readonly lookback?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Values: durations, dates, ids
// ---------------------------------------------------------------------------------------------

const timeoutDuration = durationIn('1s', '15m');
const lookbackDuration = durationIn('1m', '366d');
const stallDuration = durationIn('1m', '30d');

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const SINCE_FIX = 'Write a date like "2026-01-15" or a UTC time like "2026-01-15T02:00:00Z"';

function validCalendar(y: string, m: string, d: string): boolean {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return (
    date.getUTCFullYear() === Number(y) &&
    date.getUTCMonth() === Number(m) - 1 &&
    date.getUTCDate() === Number(d)
  );
}

/** An ISO date (midnight UTC) or datetime with a zone, as an ISO UTC string. */
function sinceOf(value: unknown): string {
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.toISOString();
  if (typeof value !== 'string') throw new Invalid(`${describe(value)} is not a date`, SINCE_FIX);
  const text = value.trim();
  const date = DATE.exec(text);
  if (date) {
    const [, y = '', m = '', d = ''] = date;
    if (!validCalendar(y, m, d)) throw new Invalid(`"${value}" is not a calendar date`, SINCE_FIX);
    return new Date(`${y}-${m}-${d}T00:00:00.000Z`).toISOString();
  }
  const time = DATETIME.exec(text);
  if (!time) throw new Invalid(`"${value}" is not a date`, SINCE_FIX);
  const [, y = '', mo = '', d = '', h = '', mi = '', s = '00', , zone] = time;
  if (!validCalendar(y, mo, d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new Invalid(`"${value}" is not a calendar date and time`, SINCE_FIX);
  }
  if (zone === undefined) {
    throw new Invalid(
      `"${value}" has no time zone`,
      `Add Z for UTC ("${text}Z") or an offset like +01:00, or give just the date`,
    );
  }
  const ms = Date.parse(
    text
      .toUpperCase()
      .replace(' ', 'T')
      .replace(/([+-]\d{2})(\d{2})$/, '$1:$2'),
  );
  if (!Number.isFinite(ms)) throw new Invalid(`"${value}" is not a date`, SINCE_FIX);
  return new Date(ms).toISOString();
}

function shareIn(min: number, max: number) {
  return (value: unknown): number => {
    const fix = `Use a share from ${min} to ${max}, like 0.2 for a fifth, without quotes`;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Invalid(`must be a number, not ${describe(value)}`, fix);
    }
    if (value < min || value > max) {
      throw new Invalid(
        `must be ${value < min ? 'at least' : 'at most'} ${value < min ? min : max}, not ${value}`,
        fix,
      );
    }
    return value;
  };
}

function integerIn(min: number, max: number) {
  return (value: unknown): number => {
    const fix = `Use a whole number from ${min} to ${max}, without quotes`;
    if (typeof value !== 'number') throw new Invalid(`must be a number, not ${describe(value)}`, fix);
    if (!Number.isInteger(value)) throw new Invalid(`must be a whole number, not ${value}`, fix);
    if (value < min || value > max) {
      throw new Invalid(
        `must be ${value < min ? 'at least' : 'at most'} ${value < min ? min : max}, not ${value}`,
        fix,
      );
    }
    return value;
  };
}

function tagPartOf(value: unknown): string {
  const fix = 'Use letters, digits, _ and spaces, like "stalled" or "needs review"';
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Invalid(`must be text, not ${describe(value)}`, fix);
  }
  if (!TAG_PATTERN.test(value.trim())) throw new Invalid(`${describe(value)} is not a valid tag`, fix);
  return value.trim();
}

function wholeDaysIn(min: string, max: string) {
  const within = durationIn(min, max);
  return (value: unknown): number => {
    const ms = within(value);
    if (ms % 86_400_000 !== 0) {
      throw new Invalid(
        `"${value}" is not a whole number of days`,
        'S3 lifecycle rules count whole days: write it like "30d" or "2w"',
      );
    }
    return ms / 86_400_000;
  };
}

/** Whole hours from 1 to 12: the runs between nightly ones fall on the hour grid of the nightly run. */
function wholeHoursOf(value: unknown): number {
  const ms = durationIn('1h', '12h')(value);
  if (ms % 3_600_000 !== 0) {
    throw new Invalid(
      `"${value}" is not a whole number of hours`,
      'The runs between nightly ones start on the hour of the nightly run: write it like "1h" or "3h"',
    );
  }
  return ms / 3_600_000;
}

const TIME_OF_DAY = /^([01]?\d|2[0-3]):([0-5]\d)$/;
function timeOfDayOf(value: unknown): { hour: number; minute: number } {
  const fix = 'Write a 24-hour time in quotes, like "02:00" or "23:30"';
  if (typeof value === 'number')
    throw new Invalid(`${value} is not a time of day (it was read as a number)`, fix);
  const match = typeof value === 'string' ? TIME_OF_DAY.exec(value.trim()) : null;
  if (!match) throw new Invalid(`${describe(value)} is not a time of day`, fix);
  return { hour: Number(match[1]), minute: Number(match[2]) };
}

function timeZoneOf(value: unknown): string {
  const fix = 'Use an IANA time zone name, like "UTC", "Europe/Berlin" or "America/New_York"';
  if (typeof value !== 'string' || value.trim() === '')
    throw new Invalid(`${describe(value)} is not a time zone`, fix);
  const zone = value.trim();
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    const close = suggest(zone, Intl.supportedValuesOf('timeZone'));
    throw new Invalid(`"${zone}" is not a time zone`, close ? `Did you mean "${close}"?` : fix);
  }
  return zone;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
function emailOf(value: unknown): string {
  if (typeof value !== 'string' || !EMAIL.test(value.trim())) {
    throw new Invalid(
      `${describe(value)} is not an e-mail address`,
      'Write an address like "qa-oncall@example.com", or null',
    );
  }
  return value.trim();
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/;
function secretArnOf(value: unknown): string {
  if (typeof value !== 'string' || !SECRET_ARN.test(value.trim())) {
    throw new Invalid(
      `${describe(value)} is not a Secrets Manager secret ARN`,
      'Copy the ARN from the Secrets Manager console, like "arn:aws:secretsmanager:us-east-1:123456789012:secret:amigo-qa-AbCdEf", or null to let the stack create the secret',
    );
  }
  return value.trim();
}

function oneOf<T extends string>(values: readonly T[], what: string) {
  return (value: unknown): T => {
    const text = typeof value === 'string' ? value.trim().toUpperCase() : '';
    const found = values.find((v) => v === text);
    if (found) return found;
    throw new Invalid(
      `${describe(value)} is not ${what}`,
      didYouMean(typeof value === 'string' ? value.toUpperCase() : '', values),
    );
  };
}

function logRetentionOf(value: unknown): (typeof LOG_RETENTION_DAYS)[number] {
  const days = durationIn('1d', '3653d')(value) / 86_400_000;
  const allowed = LOG_RETENTION_DAYS.find((d) => d === days);
  if (allowed === undefined) {
    throw new Invalid(
      `"${value}" is not a retention CloudWatch Logs offers`,
      `Use one of these numbers of days: ${LOG_RETENTION_DAYS.map((d) => `${d}d`).join(', ')}`,
    );
  }
  return allowed;
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

const rateLimitsSchema = z.record(z.string(), leaf(readRate)).superRefine((limits, ctx) => {
  for (const key of Object.keys(limits)) {
    if (operationIds.includes(key as OperationId)) continue;
    ctx.issues.push({
      code: 'custom',
      path: [key],
      message: 'is not an Amigo operationId',
      input: key,
      params: { fix: didYouMean(key, operationIds) },
    });
  }
});

const amigoSection = z.strictObject({
  // Per-operation budgets, e.g. { get-conversations: "15/min" }; unlisted operations keep Amigo's
  // published limit. Lower them when other tools share the same Amigo user.
  rateLimits: rateLimitsSchema.default({}),
  // Time allowed for one HTTP attempt.
  timeout: leaf(timeoutDuration).default(30_000),
  // Attempts per call on failures (5xx, network errors, timeouts).
  maxAttempts: leaf(integerIn(1, 20)).default(6),
  // Share of each operation's limit archive jobs leave free while stall work or prioritised
  // archives used it in the last two windows. The deployed (DynamoDB) budget grants in time order,
  // so only a large reserve puts stalled interactions before an archive backlog there.
  priorityReserve: leaf(shareIn(0, 0.9)).default(DEFAULT_RESERVE_SHARE),
});

const filtersSection = z.strictObject({
  // Only conversations of these services; empty: every service.
  serviceIds: z.array(leaf(serviceIdOf)).default([]),
});

const PRIORITY_FIX =
  'Write a list of rules, each with services, newerThan or both, like priorities: [{ services: ["6650f0c1a2b3c4d5e6f70812"] }, { newerThan: 1d }]';

const priorityRuleSchema = z
  .strictObject({
    // Conversations of these services.
    services: z.array(leaf(serviceIdOf)).min(1).optional(),
    // Conversations created at most this long before the run.
    newerThan: leaf(lookbackDuration).optional(),
  })
  .superRefine((rule, ctx) => {
    if (rule.services !== undefined || rule.newerThan !== undefined) return;
    ctx.issues.push({
      code: 'custom',
      path: [],
      message: 'has no condition, so it would put every conversation first',
      input: rule,
      params: { fix: PRIORITY_FIX },
    });
  });

const archiveSection = z.strictObject({
  // How far back each run looks for finished conversations.
  lookback: leaf(lookbackDuration).default(7 * 86_400_000),
  // How far back the runs between nightly ones (deploy.archiveEvery) look; at most lookback.
  // Absent: 1d, or lookback when that is shorter.
  hourlyLookback: leaf(lookbackDuration).optional(),
  // Finished conversations that Amigo has not analysed yet wait for a later run.
  deferUnanalyzed: leaf(booleanOf).default(true),
  // A message-count mismatch (num_messages) fails the conversation instead of flagging it.
  strict: leaf(booleanOf).default(false),
  // Backfill start (date or datetime); replaces lookback when set. The --since flag overrides it.
  since: leaf((v) => (v === null ? null : sinceOf(v))).default(null),
  // Archive voice recordings.
  audio: leaf(booleanOf).default(true),
  // Interactions whose insights are fetched at once, per conversation.
  insightsConcurrency: leaf(integerIn(1, 32)).default(4),
  // Conversations archived first: any rule matching (all of a rule's conditions) sends them ahead.
  priorities: z.array(priorityRuleSchema).default([]),
});

const runSection = z.strictObject({
  // Local runner: archive invocations in parallel; null: as many as the stack runs in AWS.
  workers: leaf((v) => (v === null ? null : integerIn(1, 64)(v))).default(null),
  // Deliveries of one job before it goes to the dead-letter queue (SQS allows 1 to 1000).
  maxReceiveCount: leaf(integerIn(1, 1000)).default(5),
});

const tagSchema = z.strictObject({
  key: leaf(tagPartOf),
  value: leaf((v) => (v === null ? null : tagPartOf(v))).optional(),
});

const CONTEXT_FIX = 'Write the context Amigo should assume for that service, as text';
const stallSection = z.strictObject({
  // An interaction with no reply for this long is stalled.
  after: leaf(stallDuration).default(30 * 60_000),
  // Tag written on conversations with a stalled interaction, e.g. { key: stalled, value: "yes" }; null: off.
  tag: tagSchema.nullable().default(null),
  // Service id -> the context text sent with recommend-responses for that service.
  contexts: z
    .record(
      z.string(),
      leaf((v) => textOf(v, CONTEXT_FIX).trim()),
    )
    .default({})
    .superRefine((contexts, ctx) => {
      for (const key of Object.keys(contexts)) {
        if (OBJECT_ID.test(key)) continue;
        ctx.issues.push({
          code: 'custom',
          path: [key],
          message: `${describe(key)} is not a service id`,
          input: key,
          params: { fix: SERVICE_ID_FIX },
        });
      }
    }),
});

const transitionSchema = z.strictObject({
  after: leaf(wholeDaysIn('1d', '36500d')),
  storageClass: leaf(oneOf(STORAGE_CLASSES, 'an S3 storage class')),
});

const objectLockSchema = z.strictObject({
  mode: leaf(oneOf(['GOVERNANCE', 'COMPLIANCE'] as const, 'an Object Lock mode')),
  retention: leaf(wholeDaysIn('1d', '36500d')),
});

const deployArchiveSchema = z.strictObject({
  // Move archived objects to cheaper storage as they age, e.g. [{ after: 90d, storageClass: GLACIER_IR }].
  transitions: z.array(transitionSchema).default([]),
  // Overwritten or deleted versions are kept this long, then removed.
  noncurrentVersionsExpireAfter: leaf(wholeDaysIn('1d', '36500d')).default(30),
  // Object Lock default retention (a regulated archive); null: off. Choose before the first deploy.
  objectLock: objectLockSchema.nullable().default(null),
});

const deploySection = z.strictObject({
  // The nightly run's start, a 24-hour time in `timezone`.
  nightlyAt: leaf(timeOfDayOf).default({ hour: 2, minute: 0 }),
  timezone: leaf(timeZoneOf).default('UTC'),
  // The stall-only scan between nightly runs; null: stalls are looked for only nightly.
  stallScanEvery: leaf((v) => (v === null ? null : durationIn('1m', '1d')(v))).default(15 * 60_000),
  // Archive runs between nightly runs, this often (whole hours); null: the nightly run only.
  archiveEvery: leaf((v) => (v === null ? null : wholeHoursOf(v))).default(1),
  // An address subscribed to the alarm topic; null: none.
  alarmEmail: leaf((v) => (v === null ? null : emailOf(v))).default(null),
  // An existing secret holding the AMIGO_* values; null: the stack creates an empty one.
  secretArn: leaf((v) => (v === null ? null : secretArnOf(v))).default(null),
  // Alarm when the oldest waiting archive job is older than this.
  maxArchiveJobAge: leaf(durationIn('5m', '14d')).default(6 * 3_600_000),
  // How long the functions' logs are kept.
  logRetention: leaf(logRetentionOf).default(30),
  archive: deployArchiveSchema.prefault({}),
});

const SECTIONS = {
  amigo: amigoSection,
  filters: filtersSection,
  archive: archiveSection,
  run: runSection,
  stall: stallSection,
  deploy: deploySection,
} as const;

/** The file as written: every key optional, unknown keys refused. */
export const pipelineConfigFileSchema = z.strictObject({
  amigo: amigoSection.prefault({}),
  filters: filtersSection.prefault({}),
  archive: archiveSection.prefault({}),
  run: runSection.prefault({}),
  stall: stallSection.prefault({}),
  deploy: deploySection.prefault({}),
  // Path of the rules file, relative to this config file; null: no rules.
  rules: leaf((v) =>
    v === null ? null : textOf(v, 'Write the path of the rules file, or null').trim(),
  ).default(null),
});
export type PipelineConfigFile = z.input<typeof pipelineConfigFileSchema>;

/** Keys of each object, by path, for unknown-key suggestions. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(pipelineConfigFileSchema.shape),
  ...Object.fromEntries(
    Object.entries(SECTIONS).map(([name, section]) => [name, Object.keys(section.shape)]),
  ),
  'stall.tag': Object.keys(tagSchema.shape),
  'deploy.archive': Object.keys(deployArchiveSchema.shape),
  'deploy.archive.objectLock': Object.keys(objectLockSchema.shape),
};

/** Fixes for a value of the wrong shape (a list where a section goes, and so on), by field pattern. */
const SHAPE_FIXES: Record<string, string> = {
  '': 'Write settings as sections, like "archive:" with "lookback: 7d" indented under it (see examples/amigo-qa.yaml)',
  'amigo.rateLimits': 'Write one operation per line under it, like get-conversations: "15/min"',
  'filters.serviceIds':
    'Write a list, like serviceIds: ["6650f0c1a2b3c4d5e6f70812"], or [] for every service',
  'stall.tag': 'Write it like tag: { key: stalled, value: "yes" }, or null for no tag',
  'stall.tag.key': 'Write it like tag: { key: stalled, value: "yes" }, or null for no tag',
  'stall.contexts':
    'Write one service per line under it, like 6650f0c1a2b3c4d5e6f70812: "The caller is a patient..."',
  'archive.priorities': PRIORITY_FIX,
  'deploy.archive.transitions': 'Write a list, like transitions: [{ after: 90d, storageClass: GLACIER_IR }]',
  'deploy.archive.objectLock': 'Write it like objectLock: { mode: GOVERNANCE, retention: 365d }, or null',
};
const SECTION_FIX = 'Indent its settings under it, as in examples/amigo-qa.yaml';

/** Names that hold credentials, compared without case, "-" or "_". */
const SECRET_NAMES = new Set([
  'apikey',
  'apikeyid',
  'amigoapikey',
  'amigoapikeyid',
  'token',
  'accesstoken',
  'authtoken',
  'idtoken',
  'bearertoken',
  'refreshtoken',
  'secret',
  'clientsecret',
  'secretkey',
  'password',
  'passwd',
  'credentials',
]);

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

interface ParseContext {
  readonly source: string;
  readonly baseDir: string;
  /** The line a path was written on, when the text is known. */
  readonly lineOf?: ((path: Path) => number | undefined) | undefined;
}

function findSecrets(value: unknown, path: Path, out: Problem[]): void {
  if (value === null || typeof value !== 'object') return;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  for (const [key, child] of entries) {
    if (typeof key === 'string' && SECRET_NAMES.has(key.toLowerCase().replace(/[-_\s]/g, ''))) {
      out.push({
        path: [...path, key],
        problem: 'looks like a credential, and credentials never go in the config file',
        fix: 'Delete it from the file and set AMIGO_API_KEY (with AMIGO_API_KEY_ID, AMIGO_USER_ID and AMIGO_ORGANIZATION_ID) in the environment',
      });
    } else {
      findSecrets(child, [...path, key], out);
    }
  }
}

/** `archive:` with nothing under it (everything commented out) is an empty section, not an error. */
function dropEmptySections(input: unknown): unknown {
  if (input === null || input === undefined) return {};
  if (typeof input !== 'object' || Array.isArray(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === null && key in SECTIONS) continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && key in SECTIONS) {
      const section: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (!(v === null && ['rateLimits', 'serviceIds', 'contexts'].includes(k))) section[k] = v;
      }
      out[key] = section;
    } else out[key] = value;
  }
  return out;
}

function unknownKeyProblem(objectPath: Path, key: string): Problem {
  const where = formatPath(objectPath);
  const known = KNOWN_KEYS[where] ?? [];
  // A key that is close to one of another section was most likely written in the wrong place.
  const fix = unknownKeyFix(key, known, () => {
    const elsewhere = Object.entries(KNOWN_KEYS).find(
      ([section, keys]) => section !== where && section !== '' && suggest(key, keys) !== undefined,
    );
    return elsewhere
      ? `Did you mean ${elsewhere[0]}.${suggest(key, elsewhere[1])}? Move it under "${elsewhere[0]}:"`
      : undefined;
  });
  return { path: [...objectPath, key], problem: 'is not a setting', fix };
}

/** A value of the wrong shape: a list where a section goes, a section left out, and so on. */
function shapeProblem(path: Path, issue: z.core.$ZodIssue): Problem {
  const fix = SHAPE_FIXES[formatPath(path)] ?? SECTION_FIX;
  if (issue.code === 'invalid_type' && issue.expected === 'nonoptional') {
    return { path, problem: 'is missing', fix };
  }
  if (issue.code === 'invalid_type') {
    const input = (issue as { input?: unknown }).input;
    const shape = issue.expected === 'array' ? 'a list' : 'a section of settings';
    return { path, problem: `must be ${shape}, not ${describe(input)}`, fix };
  }
  return { path, problem: issue.message, fix: 'See examples/amigo-qa.yaml for the expected form' };
}

function fail(problems: readonly Problem[], ctx: ParseContext): never {
  const first = problems[0] as Problem;
  const message = locate(first.problem, ctx.source, ctx.lineOf?.(first.path), problems.length - 1);
  throw new ConfigurationError(formatPath(first.path) || '(root)', message, first.fix);
}

/** The hourly runs' lookback: never longer than the nightly run's, which must find all they miss. */
function hourlyLookback(
  archive: { lookback: number; hourlyLookback?: number | undefined },
  ctx: ParseContext,
) {
  if (archive.hourlyLookback === undefined) return Math.min(86_400_000, archive.lookback);
  if (archive.hourlyLookback > archive.lookback) {
    fail(
      [
        {
          path: ['archive', 'hourlyLookback'],
          problem: `${formatDuration(archive.hourlyLookback)} is longer than archive.lookback (${formatDuration(archive.lookback)})`,
          fix: 'Make it at most archive.lookback: the runs between nightly ones look back less far than the nightly run',
        },
      ],
      ctx,
    );
  }
  return archive.hourlyLookback;
}

function resolveConfig(input: unknown, ctx: ParseContext): PipelineConfig {
  const secrets: Problem[] = [];
  findSecrets(input, [], secrets);
  if (secrets.length > 0) fail(secrets, ctx);
  const parsed = pipelineConfigFileSchema.safeParse(dropEmptySections(input), { reportInput: true });
  if (!parsed.success) fail(problemsOf(parsed.error.issues, [], unknownKeyProblem, shapeProblem), ctx);
  const f = parsed.data;
  return deepFreeze({
    amigo: {
      rateLimits: resolveRateLimits(f.amigo.rateLimits, 'amigo.rateLimits'),
      timeoutMs: f.amigo.timeout,
      maxAttempts: f.amigo.maxAttempts,
      priorityReserve: f.amigo.priorityReserve,
    },
    filters: { serviceIds: [...new Set(f.filters.serviceIds)] },
    archive: {
      lookbackMs: f.archive.lookback,
      hourlyLookbackMs: hourlyLookback(f.archive, ctx),
      deferUnanalyzed: f.archive.deferUnanalyzed,
      strict: f.archive.strict,
      since: f.archive.since,
      audio: f.archive.audio,
      insightsConcurrency: f.archive.insightsConcurrency,
      priorities: f.archive.priorities.map((r) => ({
        serviceIds: r.services ? [...new Set(r.services)] : null,
        newerThanMs: r.newerThan ?? null,
      })),
    },
    run: { workers: f.run.workers, maxReceiveCount: f.run.maxReceiveCount },
    stall: {
      afterMs: f.stall.after,
      tag: f.stall.tag ? { key: f.stall.tag.key, value: f.stall.tag.value ?? null } : null,
      contexts: { ...f.stall.contexts },
    },
    rules: f.rules === null ? null : resolve(ctx.baseDir, f.rules),
    deploy: {
      nightly: { ...f.deploy.nightlyAt, timezone: f.deploy.timezone },
      stallScanEveryMs: f.deploy.stallScanEvery,
      archiveEveryHours: f.deploy.archiveEvery,
      alarmEmail: f.deploy.alarmEmail,
      secretArn: f.deploy.secretArn,
      maxArchiveJobAgeMs: f.deploy.maxArchiveJobAge,
      logRetentionDays: f.deploy.logRetention,
      archive: {
        transitions: f.deploy.archive.transitions.map((t) => ({
          storageClass: t.storageClass,
          afterDays: t.after,
        })),
        noncurrentVersionExpiryDays: f.deploy.archive.noncurrentVersionsExpireAfter,
        objectLock: f.deploy.archive.objectLock
          ? { mode: f.deploy.archive.objectLock.mode, retentionDays: f.deploy.archive.objectLock.retention }
          : null,
      },
    },
  });
}

/**
 * Validates a configuration object (already parsed from YAML or JSON) and fills the defaults.
 * `source` names it in errors; a relative `rules` path is resolved against `baseDir`.
 */
export function parsePipelineConfig(
  input: unknown,
  source = 'the configuration',
  baseDir: string = process.cwd(),
  lineOf?: (path: Path) => number | undefined,
): PipelineConfig {
  return resolveConfig(input, { source, baseDir, lineOf });
}

/** Every setting at its default. */
export function defaultPipelineConfig(): PipelineConfig {
  return parsePipelineConfig({}, 'the defaults');
}

/** What `applyOverrides` and `parseSince` compare dates with. */
export interface OverrideContext {
  /** Epoch ms of "now": a `--since` later than this is refused. @default Date.now() */
  readonly now?: number;
}

/** A since date that is not later than `now`; the same reading as the file's `archive.since`. */
function sinceNotAfter(now: number) {
  return (value: unknown): string => {
    const since = sinceOf(value);
    if (Date.parse(since) > now) {
      const today = new Date(now).toISOString();
      throw new Invalid(
        `"${String(value).trim()}" is in the future (it is now ${today.slice(0, 19)}Z), so nothing could be listed from it`,
        `Give a day on or before today (UTC), like "${today.slice(0, 10)}"`,
      );
    }
    return since;
  };
}

/**
 * Reads a since date as `archive.since` does (a day, or a datetime with a zone) and refuses an
 * impossible date or one later than `now`. Returns the instant as an ISO UTC string; errors name `field`.
 */
export function parseSince(text: string, field: string, now: number = Date.now()): string {
  return Invalid.named(field, () => sinceNotAfter(now)(text));
}

/** A command-line count: text of digits (with a sign) is read as a number first. */
function flagInteger(flag: string, min: number, max: number) {
  return (value: unknown): number => {
    const number =
      typeof value === 'string' && /^\s*[+-]?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
    try {
      return integerIn(min, max)(number);
    } catch (error) {
      if (error instanceof Invalid)
        throw new Invalid(error.problem, `Give ${flag} a whole number from ${min} to ${max}`);
      throw error;
    }
  };
}

/** The configuration with command-line flags applied, each validated like its file setting. */
export function applyOverrides(
  config: PipelineConfig,
  flags: PipelineOverrides,
  context: OverrideContext = {},
): PipelineConfig {
  const now = context.now ?? Date.now();
  const read = <T>(field: string, value: unknown, parse: (v: unknown) => T): T =>
    Invalid.named(field, () => parse(value));
  const workers =
    flags.workers === undefined
      ? config.run.workers
      : read('--workers', flags.workers, flagInteger('--workers', 1, 64));
  return deepFreeze({
    ...config,
    archive: {
      ...config.archive,
      ...(flags.since === undefined ? {} : { since: read('--since', flags.since, sinceNotAfter(now)) }),
      ...(flags.strict === undefined ? {} : { strict: read('--strict', flags.strict, booleanOf) }),
      ...(flags.lookback === undefined
        ? {}
        : { lookbackMs: read('--lookback', flags.lookback, lookbackDuration) }),
    },
    run: { ...config.run, workers },
  });
}
