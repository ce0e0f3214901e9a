import { describe, expect, it } from 'vitest';
import { mergeDefaults } from '../../../infra/constructs/merge-defaults.ts';

describe('mergeDefaults', () => {
  const defaults = { memory: 256, tracing: true, name: 'amigo-qa', tags: ['a'] };

  it('keeps defaults for missing and undefined keys', () => {
    expect(mergeDefaults(defaults, { memory: undefined })).toEqual(defaults);
    expect(mergeDefaults(defaults, undefined)).toEqual(defaults);
  });

  it('lets every set value win, falsy ones and arrays included', () => {
    expect(mergeDefaults(defaults, { memory: 0, tracing: false, name: '', tags: [] })).toEqual({
      memory: 0,
      tracing: false,
      name: '',
      tags: [],
    });
  });

  it('does not mutate the defaults', () => {
    mergeDefaults(defaults, { memory: 1 });
    expect(defaults.memory).toBe(256);
  });
});
