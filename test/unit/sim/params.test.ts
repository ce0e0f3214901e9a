import { describe, expect, it } from 'vitest';
import { operationIds } from '../../../shared/openapi/index.ts';
import { matchRoute, parseBody, parseParameters, routes } from '../../../sim/params.ts';

const ID = 'a'.repeat(24);

function route(operationId: string) {
  const found = routes.find((r) => r.operationId === operationId);
  if (!found) throw new Error(operationId);
  return found;
}

describe('spec-driven request parsing', () => {
  it('when routes are built from the spec, then every operation has one', () => {
    expect(routes.map((r) => r.operationId).sort()).toEqual([...operationIds].sort());
  });

  it('when a path matches a template, then its parameters are extracted', () => {
    const m = matchRoute('GET', `/v1/org/conversation/${ID}/messages/`);

    expect(m.kind === 'match' && m.route.operationId).toBe('get-conversation-messages');
    expect(m.kind === 'match' && m.pathParams).toEqual({ organization: 'org', conversation_id: ID });
    expect(matchRoute('DELETE', '/v1/org/conversation/').kind).toBe('method-not-allowed');
    expect(matchRoute('GET', '/v1/org/nothing').kind).toBe('none');
  });

  it('when query parameters are omitted, then the spec defaults apply', () => {
    const parsed = parseParameters(
      route('get-conversation-messages'),
      { organization: 'o', conversation_id: ID },
      new URLSearchParams(),
      {},
    );

    expect(parsed.issues).toEqual([]);
    expect(parsed.values).toMatchObject({
      limit: 500,
      continuation_token: 0,
      message_type: ['user-message', 'agent-message', 'external-event'],
      id: [],
    });
  });

  it('when query values are exploded arrays, booleans and integers, then they are coerced', () => {
    const query = new URLSearchParams(`id=${ID}&id=${'b'.repeat(24)}&is_finished=true&limit=7`);

    const parsed = parseParameters(route('get-conversations'), { organization: 'o' }, query, {});

    expect(parsed.issues).toEqual([]);
    expect(parsed.values).toMatchObject({ id: [ID, 'b'.repeat(24)], is_finished: true, limit: 7 });
  });

  it('when values break the schema, then FastAPI-style issues name each one', () => {
    const query = new URLSearchParams('limit=0&message_type=bogus&continuation_token=1.5');

    const parsed = parseParameters(
      route('get-conversation-messages'),
      { organization: 'o', conversation_id: 'xyz' },
      query,
      {},
    );

    expect(parsed.issues.map((i) => [i.loc, i.type])).toEqual([
      [['path', 'conversation_id'], 'string_pattern_mismatch'],
      [['query', 'message_type', 0], 'enum'],
      [['query', 'limit'], 'greater_than'],
      [['query', 'continuation_token'], 'int_parsing'],
    ]);
  });

  it('when sign-in headers are missing, then each is reported as missing', () => {
    const parsed = parseParameters(
      route('sign-in-with-api-key'),
      { organization: 'o' },
      new URLSearchParams(),
      {
        'x-api-key': 'k',
      },
    );

    expect(parsed.issues.map((i) => i.loc)).toEqual([
      ['header', 'x-api-key-id'],
      ['header', 'x-user-id'],
    ]);
  });

  it('when tag bodies are parsed, then strings are stripped and checked like pydantic does', () => {
    const tags = route('modify-tags-of-conversation');

    expect(parseBody(tags, '{"updates":{" a ":" b "},"deletes":["x","x"]}')).toEqual({
      ok: true,
      value: { updates: { a: 'b' }, deletes: ['x'] },
    });
    expect(parseBody(tags, '{"updates":{"  ":"v"}}').ok).toBe(false);
    expect(parseBody(tags, '{"updates":{"a-b":"v"}}').ok).toBe(false);
    expect(parseBody(tags, '{not json').ok).toBe(false);
    expect(parseBody(tags, '').ok).toBe(false);
    expect(parseBody(route('recommend-responses-for-interaction'), '')).toMatchObject({ ok: true });
    expect(parseBody(route('recommend-responses-for-interaction'), '{"context":"   "}').ok).toBe(false);
  });
});
