import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyOverrides,
  defaultPipelineConfig,
  type PipelineConfig,
  parsePipelineConfig,
  parseSince,
} from '../../../shared/config/pipeline-config.ts';
import { loadPipelineConfig } from '../../../shared/config/source-file.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import { scratchFiles } from '../../support/scratch-files.ts';

const SERVICE = '6650f0c1a2b3c4d5e6f70812';
const DAY = 86_400_000;

const { dir, file } = scratchFiles('config');

/** The ConfigurationError `act` throws. */
function errorOf(act: () => unknown): ConfigurationError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

const parse = (input: unknown) => parsePipelineConfig(input, 'amigo-qa.yaml');

describe('defaultPipelineConfig', () => {
  it('when nothing is configured, then every setting has its documented default', () => {
    const config = defaultPipelineConfig();

    expect(config.amigo.timeoutMs).toBe(30_000);
    expect(config.amigo.maxAttempts).toBe(6);
    expect(config.amigo.rateLimits['get-conversations']).toEqual({ limit: 15, windowMs: 60_000 });
    expect(config.filters.serviceIds).toEqual([]);
    expect(config.archive).toEqual({
      lookbackMs: 7 * DAY,
      hourlyLookbackMs: DAY,
      deferUnanalyzed: true,
      strict: false,
      since: null,
      audio: true,
      insightsConcurrency: 4,
      priorities: [],
    });
    expect(config.run).toEqual({ workers: null, maxReceiveCount: 5 });
    expect(config.stall).toEqual({ afterMs: 30 * 60_000, tag: null, contexts: {} });
    expect(config.rules).toBeNull();
    expect(config.deploy).toEqual({
      nightly: { hour: 2, minute: 0, timezone: 'UTC' },
      stallScanEveryMs: 15 * 60_000,
      archiveEveryHours: 1,
      alarmEmail: null,
      secretArn: null,
      maxArchiveJobAgeMs: 6 * 3_600_000,
      logRetentionDays: 30,
      archive: { transitions: [], noncurrentVersionExpiryDays: 30, objectLock: null },
    });
  });

  it('when the config is resolved, then it is frozen all the way down', () => {
    const config = defaultPipelineConfig();

    expect(Object.isFrozen(config.archive)).toBe(true);
    expect(Object.isFrozen(config.amigo.rateLimits['get-conversations'])).toBe(true);
  });

  it('when an empty object, null or empty sections are given, then they mean the defaults', () => {
    expect(parse({})).toEqual(defaultPipelineConfig());
    expect(parse(null)).toEqual(defaultPipelineConfig());
    expect(parse({ archive: null, amigo: { rateLimits: null }, stall: { contexts: null } })).toEqual(
      defaultPipelineConfig(),
    );
  });
});

describe('parsePipelineConfig', () => {
  it('when every setting is given, then each is resolved (durations in ms, dates as ISO, rules absolute)', () => {
    const config = parsePipelineConfig(
      {
        amigo: {
          rateLimits: { 'get-conversations': '10/min', 'retrieve-message-source': '4/s' },
          timeout: '45s',
          priorityReserve: 0.8,
        },
        filters: { serviceIds: [SERVICE, SERVICE] },
        archive: {
          lookback: '1h30m',
          strict: true,
          since: '2026-01-15',
          audio: false,
          insightsConcurrency: 2,
        },
        run: { workers: 8, maxReceiveCount: 3 },
        stall: { after: '2h', tag: { key: 'stalled', value: 'yes' }, contexts: { [SERVICE]: 'A patient.' } },
        rules: 'rules/tags.yaml',
      },
      'inline',
      '/srv/qa',
    );

    expect(config.amigo.rateLimits['get-conversations']).toEqual({ limit: 10, windowMs: 60_000 });
    expect(config.amigo.rateLimits['retrieve-message-source']).toEqual({ limit: 4, windowMs: 1_000 });
    expect(config.amigo.rateLimits['get-conversation-messages']).toEqual({ limit: 20, windowMs: 60_000 });
    expect(config.amigo.timeoutMs).toBe(45_000);
    expect(config.amigo.priorityReserve).toBe(0.8);
    expect(config.filters.serviceIds).toEqual([SERVICE]);
    expect(config.archive.lookbackMs).toBe(5_400_000);
    expect(config.archive.since).toBe('2026-01-15T00:00:00.000Z');
    expect(config.archive.audio).toBe(false);
    expect(config.run).toEqual({ workers: 8, maxReceiveCount: 3 });
    expect(config.stall).toEqual({
      afterMs: 7_200_000,
      tag: { key: 'stalled', value: 'yes' },
      contexts: { [SERVICE]: 'A patient.' },
    });
    expect(config.rules).toBe(resolve('/srv/qa/rules/tags.yaml'));
  });

  it('when an unquoted YAML id was read as a number, then the error says to quote it', () => {
    const path = file('numeric-id.yaml', 'filters:\n  serviceIds: [123456789012345678901234]\n');

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe('filters.serviceIds[0]');
    expect(error.hint).toMatch(/Put the id in quotes/);
  });

  it('when since is written with a lowercase z or a space, then it is still read as UTC', () => {
    expect(parse({ archive: { since: '2026-01-15 02:00:00z' } }).archive.since).toBe(
      '2026-01-15T02:00:00.000Z',
    );
  });

  it('when since is a datetime with an offset, then it is stored as the same instant in UTC', () => {
    expect(parse({ archive: { since: '2026-01-15T02:00:00+01:00' } }).archive.since).toBe(
      '2026-01-15T01:00:00.000Z',
    );
  });

  it('when the lookback is shorter than a day and no hourly lookback is given, then the hourly runs use the lookback', () => {
    expect(parse({ archive: { lookback: '12h' } }).archive.hourlyLookbackMs).toBe(12 * 3_600_000);
  });

  it('when the hourly lookback and the archive cadence are given, then they are resolved; null turns the hourly runs off', () => {
    const config = parse({ archive: { hourlyLookback: '6h' }, deploy: { archiveEvery: '3h' } });

    expect(config.archive.hourlyLookbackMs).toBe(6 * 3_600_000);
    expect(config.deploy.archiveEveryHours).toBe(3);
    expect(parse({ deploy: { archiveEvery: null } }).deploy.archiveEveryHours).toBeNull();
  });

  it('when the tag has no value, then it is a bare tag (value null)', () => {
    expect(parse({ stall: { tag: { key: 'stalled' } } }).stall.tag).toEqual({ key: 'stalled', value: null });
  });
});

describe('configuration errors name the field path, the file and the fix', () => {
  const cases: [string, unknown, string, RegExp, RegExp][] = [
    [
      'a nightly time read as a number (unquoted 02:00 in YAML 1.1)',
      { deploy: { nightlyAt: 120 } },
      'deploy.nightlyAt',
      /120 is not a time of day \(it was read as a number\)/,
      /in quotes, like "02:00"/,
    ],
    [
      'a nightly time past midnight',
      { deploy: { nightlyAt: '24:30' } },
      'deploy.nightlyAt',
      /"24:30" is not a time of day/,
      /24-hour time/,
    ],
    [
      'a misspelt time zone',
      { deploy: { timezone: 'Europe/Berln' } },
      'deploy.timezone',
      /"Europe\/Berln" is not a time zone/,
      /Did you mean "Europe\/Berlin"\?/,
    ],
    [
      'an hourly lookback longer than the lookback',
      { archive: { lookback: '2d', hourlyLookback: '3d' } },
      'archive.hourlyLookback',
      /3d is longer than archive\.lookback \(2d\)/,
      /at most archive\.lookback/,
    ],
    [
      'archive runs between nightly ones at a part of an hour',
      { deploy: { archiveEvery: '90m' } },
      'deploy.archiveEvery',
      /"90m" is not a whole number of hours/,
      /like "1h" or "3h"/,
    ],
    [
      'archive runs between nightly ones less than once in 12 hours',
      { deploy: { archiveEvery: '1d' } },
      'deploy.archiveEvery',
      /longer than allowed/,
      /from "1h" to "12h"/,
    ],
    [
      'a stall scan more often than once a minute',
      { deploy: { stallScanEvery: '30s' } },
      'deploy.stallScanEvery',
      /shorter than allowed/,
      /from "1m" to "1d"/,
    ],
    [
      'an alarm address that is not one',
      { deploy: { alarmEmail: 'qa-team' } },
      'deploy.alarmEmail',
      /"qa-team" is not an e-mail address/,
      /qa-oncall@example.com/,
    ],
    [
      'a secret ARN of another service',
      { deploy: { secretArn: 'arn:aws:ssm:us-east-1:123456789012:parameter/amigo' } },
      'deploy.secretArn',
      /is not a Secrets Manager secret ARN/,
      /arn:aws:secretsmanager:/,
    ],
    [
      'a log retention CloudWatch does not offer',
      { deploy: { logRetention: '10d' } },
      'deploy.logRetention',
      /"10d" is not a retention CloudWatch Logs offers/,
      /7d, 14d, 30d/,
    ],
    [
      'a lifecycle transition in hours',
      { deploy: { archive: { transitions: [{ after: '36h', storageClass: 'GLACIER_IR' }] } } },
      'deploy.archive.transitions[0].after',
      /"36h" is not a whole number of days/,
      /whole days/,
    ],
    [
      'a misspelt storage class',
      { deploy: { archive: { transitions: [{ after: '90d', storageClass: 'GLACIER_RI' }] } } },
      'deploy.archive.transitions[0].storageClass',
      /"GLACIER_RI" is not an S3 storage class/,
      /Did you mean "GLACIER_IR"\?/,
    ],
    [
      'an Object Lock mode that does not exist',
      { deploy: { archive: { objectLock: { mode: 'strict', retention: '365d' } } } },
      'deploy.archive.objectLock.mode',
      /"strict" is not an Object Lock mode/,
      /GOVERNANCE, COMPLIANCE/,
    ],
    [
      'a duration in words',
      { archive: { lookback: '7 weeks' } },
      'archive.lookback',
      /"7 weeks" is not a duration/,
      /Write it like "7d", "36h" or "30m"/,
    ],
    [
      'a priority reserve above its bound',
      { amigo: { priorityReserve: 1 } },
      'amigo.priorityReserve',
      /must be at most 0\.9, not 1/,
      /like 0\.2 for a fifth/,
    ],
    [
      'a priority reserve written as a percentage',
      { amigo: { priorityReserve: '80%' } },
      'amigo.priorityReserve',
      /must be a number/,
      /like 0\.2 for a fifth/,
    ],
    [
      'a duration without a unit',
      { amigo: { timeout: 30 } },
      'amigo.timeout',
      /30 has no unit/,
      /Write it like "7d"/,
    ],
    [
      'a duration with units out of order',
      { stall: { after: '30m1h' } },
      'stall.after',
      /out of order/,
      /largest unit first/,
    ],
    [
      'a duration beyond its bound',
      { amigo: { timeout: '1h' } },
      'amigo.timeout',
      /longer than allowed/,
      /from "1s" to "15m"/,
    ],
    [
      'a rate that is not calls per unit',
      { amigo: { rateLimits: { 'get-conversations': '15 per minute' } } },
      'amigo.rateLimits.get-conversations',
      /"15 per minute" is not a rate/,
      /"20\/min", "4\/s"/,
    ],
    [
      'a rate that allows a fraction of a call',
      { amigo: { rateLimits: { 'get-conversations': '1.5/s' } } },
      'amigo.rateLimits.get-conversations',
      /"1\.5\/s" allows a fraction of a call/,
      /^Use a whole number of calls per window/,
    ],
    [
      'a rate written as a bare number',
      { amigo: { rateLimits: { 'get-conversations': 15 } } },
      'amigo.rateLimits.get-conversations',
      /15 is not a rate/,
      /"20\/min"/,
    ],
    [
      'an unknown operation in rateLimits',
      { amigo: { rateLimits: { 'get-conversation': '15/min' } } },
      'amigo.rateLimits.get-conversation',
      /is not an Amigo operationId/,
      /Did you mean "get-conversations"\? Use one of: get-conversations,/,
    ],
    [
      'a misspelt setting',
      { archive: { lookbak: '7d' } },
      'archive.lookbak',
      /is not a setting/,
      /Did you mean "lookback"\?/,
    ],
    [
      'a setting in the wrong case',
      { run: { Workers: 2 } },
      'run.Workers',
      /is not a setting/,
      /Did you mean "workers"\?/,
    ],
    [
      'a setting in the wrong section',
      { lookback: '7d' },
      'lookback',
      /is not a setting/,
      /Did you mean archive\.lookback\? Move it under "archive:"/,
    ],
    [
      'an unknown setting with nothing close',
      { run: { colour: 'blue' } },
      'run.colour',
      /is not a setting/,
      /Remove it, or use one of: workers, maxReceiveCount/,
    ],
    [
      'a malformed service id',
      { filters: { serviceIds: [SERVICE, 'support-line'] } },
      'filters.serviceIds[1]',
      /"support-line" is not a service id/,
      /24 characters, 0-9 and a-f/,
    ],
    [
      'a service id that is not a list',
      { filters: { serviceIds: SERVICE } },
      'filters.serviceIds',
      /must be a list/,
      /Write a list/,
    ],
    [
      'a malformed service id in stall contexts',
      { stall: { contexts: { billing: 'text' } } },
      'stall.contexts.billing',
      /"billing" is not a service id/,
      /from the Amigo dashboard/,
    ],
    [
      'an apiKey in a section',
      { amigo: { apiKey: 'sk-live-1234567890' } },
      'amigo.apiKey',
      /looks like a credential/,
      /set AMIGO_API_KEY/,
    ],
    ['an api_key at the top', { api_key: 'x' }, 'api_key', /looks like a credential/, /AMIGO_API_KEY/],
    [
      'a token deep down',
      { stall: { tag: { token: 'x' } } },
      'stall.tag.token',
      /credential/,
      /AMIGO_API_KEY/,
    ],
    ['a secret', { run: { secret: 'x' } }, 'run.secret', /credential/, /AMIGO_API_KEY/],
    [
      'an impossible since date',
      { archive: { since: '2026-02-30' } },
      'archive.since',
      /"2026-02-30" is not a calendar date/,
      /Write a date like "2026-01-15"/,
    ],
    [
      'a since date in another format',
      { archive: { since: '15/01/2026' } },
      'archive.since',
      /"15\/01\/2026" is not a date/,
      /Write a date like "2026-01-15"/,
    ],
    [
      'a since datetime without a zone',
      { archive: { since: '2026-01-15T02:00' } },
      'archive.since',
      /has no time zone/,
      /Add Z for UTC/,
    ],
    [
      'a quoted boolean',
      { archive: { audio: 'yes' } },
      'archive.audio',
      /must be true or false, not "yes"/,
      /Write true or false/,
    ],
    [
      'a quoted number',
      { run: { workers: '4' } },
      'run.workers',
      /must be a number, not "4"/,
      /whole number from 1 to 64/,
    ],
    [
      'a fraction',
      { run: { workers: 2.5 } },
      'run.workers',
      /must be a whole number, not 2.5/,
      /from 1 to 64/,
    ],
    [
      'a number out of range',
      { amigo: { maxAttempts: 50 } },
      'amigo.maxAttempts',
      /must be at most 20, not 50/,
      /from 1 to 20/,
    ],
    ['a section that is a list', { archive: ['7d'] }, 'archive', /must be a section of settings/, /Indent/],
    ['a tag that is text', { stall: { tag: 'stalled' } }, 'stall.tag', /must be a section/, /key: stalled/],
    [
      'a tag with characters Amigo refuses',
      { stall: { tag: { key: 'stalled!' } } },
      'stall.tag.key',
      /"stalled!" is not a valid tag/,
      /letters, digits/,
    ],
    ['a rules path that is a number', { rules: 5 }, 'rules', /must be text, not 5/, /path of the rules file/],
    [
      'a file that is a list',
      ['archive'],
      '(root)',
      /must be a section of settings/,
      /Write settings as sections/,
    ],
  ];

  it.each(cases)(
    'when the file has %s, then the error names the path and the fix',
    (_, input, field, problem, fix) => {
      const error = errorOf(() => parse(input));

      expect(error.field).toBe(field);
      expect(error.message).toContain(`Invalid configuration ${field}: `);
      expect(error.message).toMatch(problem);
      expect(error.message).toContain('(in amigo-qa.yaml');
      expect(error.hint).toMatch(fix);
      expect(error.retryable).toBe(false);
    },
  );

  it('when a secret-looking key holds a value, then the error does not repeat the value', () => {
    const error = errorOf(() => parse({ amigo: { apiKey: 'sk-live-1234567890' } }));

    expect(JSON.stringify(error.toJSON())).not.toContain('sk-live-1234567890');
  });

  it('when an operationId mentions an API key, then it is not taken for a credential', () => {
    expect(
      parse({ amigo: { rateLimits: { 'sign-in-with-api-key': '5/min' } } }).amigo.rateLimits,
    ).toMatchObject({
      'sign-in-with-api-key': { limit: 5, windowMs: 60_000 },
    });
  });

  it('when there are several problems, then the first is reported with a count of the rest', () => {
    const error = errorOf(() => parse({ archive: { lookback: 'soon', audio: 'yes' }, run: { workers: 0 } }));

    expect(error.field).toBe('archive.lookback');
    expect(error.message).toContain('(in amigo-qa.yaml; 2 more problems after this one)');
  });
});

describe('loadPipelineConfig', () => {
  it('when a YAML file is given, then it is read and validated, and rules resolve next to it', () => {
    const path = file(
      'qa.yaml',
      [
        'archive:',
        '  lookback: 36h',
        '  since: 2026-01-15   # unquoted: still a date string',
        'filters:',
        `  serviceIds: [${SERVICE}]`,
        'stall:',
        '  tag: { key: stalled, value: "yes" }',
        'rules: rules.yaml',
      ].join('\n'),
    );

    const config = loadPipelineConfig(path);

    expect(config.archive.lookbackMs).toBe(36 * 3_600_000);
    expect(config.archive.since).toBe('2026-01-15T00:00:00.000Z');
    expect(config.filters.serviceIds).toEqual([SERVICE]);
    expect(config.stall.tag).toEqual({ key: 'stalled', value: 'yes' });
    expect(config.rules).toBe(join(dir, 'rules.yaml'));
  });

  it('when a .yml file is given, then it is read as YAML', () => {
    expect(loadPipelineConfig(file('qa.yml', 'run:\n  workers: 2\n')).run.workers).toBe(2);
  });

  it('when a JSON file is given, then it is read and validated the same way', () => {
    const path = file('qa.json', JSON.stringify({ run: { workers: 16 }, stall: { after: '1h' } }));

    const config = loadPipelineConfig(path);

    expect(config.run.workers).toBe(16);
    expect(config.stall.afterMs).toBe(3_600_000);
  });

  it('when the file is empty or only comments, then every default applies', () => {
    expect(loadPipelineConfig(file('empty.yaml', '# nothing yet\n'))).toEqual(defaultPipelineConfig());
  });

  it('when a YAML value is wrong, then the error names the file and the line', () => {
    const path = file('bad-duration.yaml', 'run:\n  workers: 2\narchive:\n  lookback: 7 weeks\n');

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe('archive.lookback');
    expect(error.message).toContain(`"7 weeks" is not a duration (in ${path}, line 4)`);
    expect(error.hint).toBe('Write it like "7d", "36h" or "30m"');
  });

  it('when a YAML key is misspelt, then the error gives its line and a suggestion', () => {
    const path = file('typo.yaml', 'archive:\n  deferUnanalysed: false\n');

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe('archive.deferUnanalysed');
    expect(error.message).toContain(`(in ${path}, line 2)`);
    expect(error.hint).toBe('Did you mean "deferUnanalyzed"?');
  });

  it('when a JSON value is wrong, then the error names the field path and the file', () => {
    const path = file('bad.json', JSON.stringify({ amigo: { rateLimits: { 'get-conversations': 'fast' } } }));

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe('amigo.rateLimits.get-conversations');
    expect(error.message).toContain(`(in ${path}`);
  });

  it('when the YAML does not parse, then the error names the file and says so', () => {
    const path = file('broken.yaml', 'archive:\n  lookback: 7d\n   audio: [true\n');

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe(path);
    expect(error.message).toMatch(/is not valid YAML/);
    expect(error.hint).toMatch(/indentation/);
  });

  it('when a YAML key appears twice, then it is an error rather than a silent overwrite', () => {
    const path = file('twice.yaml', 'run:\n  workers: 2\n  workers: 3\n');

    expect(errorOf(() => loadPipelineConfig(path)).message).toMatch(/is not valid YAML/);
  });

  it('when the JSON does not parse, then the error names the file and says so', () => {
    const path = file('broken.json', '{ "run": { "workers": 2, } }');

    expect(errorOf(() => loadPipelineConfig(path)).message).toMatch(/is not valid JSON/);
  });

  it('when the file does not exist, then the error names it and the fix', () => {
    const path = join(dir, 'missing.yaml');

    const error = errorOf(() => loadPipelineConfig(path));

    expect(error.field).toBe(path);
    expect(error.message).toMatch(/does not exist/);
    expect(error.hint).toMatch(/--config/);
  });

  it('when the file has another extension, then it is refused naming the accepted ones', () => {
    const error = errorOf(() => loadPipelineConfig(file('qa.toml', 'x = 1')));

    expect(error.message).toMatch(/has the extension "\.toml"/);
    expect(error.hint).toMatch(/\.yaml, \.yml or \.json/);
  });

  it('when the shipped example is loaded, then it is valid and documents the defaults', () => {
    const config = loadPipelineConfig(resolve(import.meta.dirname, '../../../examples/amigo-qa.yaml'));
    const defaults = defaultPipelineConfig();

    expect(config.stall.tag).toEqual({ key: 'stalled', value: 'yes' });
    expect({ ...config, stall: { ...config.stall, tag: null } }).toEqual(defaults);
  });
});

describe('applyOverrides', () => {
  const base: PipelineConfig = defaultPipelineConfig();

  it('when flags are given, then they replace the file settings and nothing else', () => {
    const config = applyOverrides(base, { since: '2026-03-01', strict: true, workers: 12, lookback: '2d' });

    expect(config.archive.since).toBe('2026-03-01T00:00:00.000Z');
    expect(config.archive.strict).toBe(true);
    expect(config.archive.lookbackMs).toBe(2 * DAY);
    expect(config.run.workers).toBe(12);
    expect(config.run.maxReceiveCount).toBe(base.run.maxReceiveCount);
    expect(config.archive.audio).toBe(base.archive.audio);
    expect(base.run.workers).toBeNull();
    expect(Object.isFrozen(config.archive)).toBe(true);
  });

  it('when no flags are given, then the configuration is unchanged', () => {
    expect(applyOverrides(base, {})).toEqual(base);
  });

  it('when --workers comes as text from the command line, then digits are accepted', () => {
    expect(applyOverrides(base, { workers: '6' }).run.workers).toBe(6);
  });

  it.each([
    [{ since: 'last tuesday' }, '--since', /"last tuesday" is not a date/, /Write a date like/],
    [{ lookback: '7 weeks' }, '--lookback', /"7 weeks" is not a duration/, /Write it like "7d"/],
    [{ workers: 0 }, '--workers', /must be at least 1, not 0/, /from 1 to 64/],
    [{ workers: 'many' }, '--workers', /must be a number, not "many"/, /from 1 to 64/],
  ])(
    'when a flag is invalid (%o), then the error names the flag and the fix',
    (flags, field, problem, fix) => {
      const error = errorOf(() => applyOverrides(base, flags));

      expect(error.field).toBe(field);
      expect(error.message).toMatch(problem);
      expect(error.hint).toMatch(fix);
    },
  );
});

describe('dates in the future and counts below the minimum, on the command line', () => {
  const base: PipelineConfig = defaultPipelineConfig();
  const now = Date.parse('2026-12-01T10:00:00Z');

  it.each(['2026-12-02', '2027-01-01', '2026-12-01T10:00:01Z'])(
    'when --since is %s, later than now, then it is refused naming the flag, as listing from the future finds nothing',
    (since) => {
      const error = errorOf(() => applyOverrides(base, { since }, { now }));

      expect(error.field).toBe('--since');
      expect(error.message).toMatch(/is in the future/);
      expect(error.message).toContain('2026-12-01T10:00:00Z');
      expect(error.hint).toMatch(/on or before today/);
    },
  );

  it('when --since is today at midnight UTC or earlier, then it is accepted', () => {
    expect(applyOverrides(base, { since: '2026-12-01' }, { now }).archive.since).toBe(
      '2026-12-01T00:00:00.000Z',
    );
    expect(applyOverrides(base, { since: '2026-11-30T23:00:00-01:00' }, { now }).archive.since).toBe(
      '2026-12-01T00:00:00.000Z',
    );
  });

  it.each([
    ['-3', /must be at least 1, not -3/],
    ['0', /must be at least 1, not 0/],
    ['65', /must be at most 64, not 65/],
    ['2.5', /must be a whole number, not 2\.5/],
  ])('when --workers is %s, then the error names --workers and the allowed range', (workers, problem) => {
    const error = errorOf(() => applyOverrides(base, { workers }));

    expect(error.field).toBe('--workers');
    expect(error.message).toMatch(problem);
    expect(error.hint).toBe('Give --workers a whole number from 1 to 64');
  });

  it('when a day is read with parseSince, then an impossible or future day is refused naming the field', () => {
    expect(parseSince('2026-11-01', '--since', now)).toBe('2026-11-01T00:00:00.000Z');
    expect(() => parseSince('2026-02-30', '--since', now)).toThrow(
      /--since: "2026-02-30" is not a calendar date/,
    );
    expect(() => parseSince('2026-12-25', '--since', now)).toThrow(/--since: "2026-12-25" is in the future/);
  });
});
