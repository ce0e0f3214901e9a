import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../shared/config/pipeline-config.ts';
import { ConfigurationError } from '../../../shared/errors.ts';
import { priorityOf } from '../../../shared/stages/archive-priority.ts';

const SERVICE = '6650f0c1a2b3c4d5e6f70812';
const OTHER = '6650f0c1a2b3c4d5e6f70999';
const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

const parse = (archive: unknown) => parsePipelineConfig({ archive }, 'amigo-qa.yaml');

function errorOf(act: () => unknown): ConfigurationError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('archive.priorities', () => {
  it('when rules are given, then each becomes its services and age in milliseconds, duplicates dropped', () => {
    const config = parse({ priorities: [{ services: [SERVICE, SERVICE] }, { newerThan: '1d' }] });

    expect(config.archive.priorities).toEqual([
      { serviceIds: [SERVICE], newerThanMs: null },
      { serviceIds: null, newerThanMs: DAY },
    ]);
  });

  it('when nothing is given, then there are no priorities', () => {
    expect(parse({}).archive.priorities).toEqual([]);
  });

  it.each([
    [{ priorities: [{}] }, 'archive.priorities[0]', /no condition/],
    [{ priorities: [{ services: ['abc'] }] }, 'archive.priorities[0].services[0]', /service id/],
    [{ priorities: [{ services: [] }] }, 'archive.priorities[0].services', /./],
    [{ priorities: [{ newerThan: 'yesterday' }] }, 'archive.priorities[0].newerThan', /duration/],
    [{ priorities: [{ newerThen: '1d' }] }, 'archive.priorities[0].newerThen', /not a setting/],
    [{ priorities: { newerThan: '1d' } }, 'archive.priorities', /must be a list/],
  ])('when a rule is wrong (%o), then the error names its field', (archive, field, problem) => {
    const error = errorOf(() => parse(archive));

    expect(error.field).toBe(field);
    expect(error.message).toMatch(problem);
  });
});

describe('priorityOf', () => {
  const rules = parse({ priorities: [{ services: [SERVICE] }, { newerThan: '1d' }] }).archive.priorities;
  const at = (ageMs: number) => new Date(NOW - ageMs).toISOString();

  it.each([
    ['of a listed service, however old', 'high', SERVICE, at(30 * DAY)],
    ['of another service, newer than a day', 'high', OTHER, at(DAY - 1)],
    ['of another service, a day old exactly', 'high', OTHER, at(DAY)],
    ['of another service, older than a day', 'normal', OTHER, at(DAY + 1)],
  ])('when the conversation is %s, then it is %s', (_what, expected, service, created) => {
    expect(priorityOf({ service_id: service, created_at: created }, rules, NOW)).toBe(expected);
  });

  it('when a rule gives both conditions, then a conversation must meet both', () => {
    const both = parse({ priorities: [{ services: [SERVICE], newerThan: '1d' }] }).archive.priorities;

    expect(priorityOf({ service_id: SERVICE, created_at: at(DAY / 2) }, both, NOW)).toBe('high');
    expect(priorityOf({ service_id: SERVICE, created_at: at(2 * DAY) }, both, NOW)).toBe('normal');
    expect(priorityOf({ service_id: OTHER, created_at: at(DAY / 2) }, both, NOW)).toBe('normal');
  });

  it('when there are no rules, then every conversation is normal', () => {
    expect(priorityOf({ service_id: SERVICE, created_at: at(0) }, [], NOW)).toBe('normal');
  });
});
