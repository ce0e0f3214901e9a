// The Amigo OpenAPI description as data: the operation table (method, path, published rate limit)
// and a JSON Schema validator for request and response bodies. Shared by the client and the
// simulator; neither depends on the other.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { components, operations as SpecOperations } from './amigo-api.gen.ts';
import spec from './openapi.json' with { type: 'json' };

export type { components, operations as SpecOperations, paths } from './amigo-api.gen.ts';
export { spec };

export type Schemas = components['schemas'];
export type ConversationInstance = Schemas['ConversationInstance'];
export type MessageInstance = Schemas['MessageInstance'];
export type MessageType = Schemas['MessageType'];
export type InteractionInsights =
  Schemas['src__app__endpoints__conversation__get_interaction_insights__Response'];
export type ConversationsPage = Schemas['src__app__endpoints__conversation__get_conversations__Response'];
export type MessagesPage = Schemas['src__app__endpoints__conversation__get_conversation_messages__Response'];
export type SignInResponse = Schemas['src__app__endpoints__user__sign_in_with_api_key__Response'];
export type ModifyTagsRequest =
  Schemas['src__app__endpoints__conversation__modify_tags_of_conversation__Request'];
export type RecommendRequest =
  Schemas['src__app__endpoints__conversation__recommend_responses_for_interaction__Request'];
export type RecommendResponse =
  Schemas['src__app__endpoints__conversation__recommend_responses_for_interaction__Response'];

export type OperationId = keyof SpecOperations;
export type MessageFormat = Schemas['Format'];
export type TransitionKind = NonNullable<Schemas['StateTransitionLog']['type']>;

/** Every message type, message format and state-transition kind, as the spec lists them. */
export const messageTypes = spec.components.schemas.MessageType.enum as readonly MessageType[];
export const messageFormats = spec.components.schemas.Format.enum as readonly MessageFormat[];
export const transitionKinds = Object.keys(
  spec.components.schemas.StateTransitionLog.discriminator.mapping,
) as readonly TransitionKind[];

export interface RateLimit {
  /** Calls allowed per window. */
  readonly limit: number;
  readonly windowMs: number;
}

export interface OperationInfo {
  readonly operationId: OperationId;
  readonly method: 'GET' | 'POST';
  /** Path template as in the spec, e.g. `/v1/{organization}/conversation/`. */
  readonly path: string;
  /** The published per-user limit, read from the 429 response description. */
  readonly publishedLimit: RateLimit;
  readonly successStatus: number;
  /** Component schema name of the 200 body, when the spec names one. */
  readonly responseSchema: string | undefined;
  readonly requestSchema: string | undefined;
}

interface SpecOperation {
  operationId: string;
  responses: Record<
    string,
    { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }
  >;
  requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
  parameters?: unknown[];
}

const UNIT_MS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000 };

function parsePublishedLimit(operationId: string, description: string | undefined): RateLimit {
  const match = /rate limit of (\d+) requests? per (second|minute|hour)/i.exec(description ?? '');
  if (!match?.[1] || !match[2]) {
    throw new Error(`The spec's 429 description for ${operationId} does not state a rate limit`);
  }
  return { limit: Number(match[1]), windowMs: UNIT_MS[match[2].toLowerCase()] as number };
}

function refName(ref: string | undefined): string | undefined {
  return ref?.replace('#/components/schemas/', '');
}

function buildOperations(): Record<OperationId, OperationInfo> {
  const table = {} as Record<OperationId, OperationInfo>;
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, raw] of Object.entries(item as Record<string, SpecOperation>)) {
      const operationId = raw.operationId as OperationId;
      const successStatus = Number(Object.keys(raw.responses).find((s) => s.startsWith('2')) ?? 200);
      table[operationId] = {
        operationId,
        method: method.toUpperCase() as 'GET' | 'POST',
        path,
        publishedLimit: parsePublishedLimit(operationId, raw.responses['429']?.description),
        successStatus,
        responseSchema: refName(
          raw.responses[String(successStatus)]?.content?.['application/json']?.schema?.$ref,
        ),
        requestSchema: refName(raw.requestBody?.content?.['application/json']?.schema?.$ref),
      };
    }
  }
  return table;
}

export const operations: Readonly<Record<OperationId, OperationInfo>> = buildOperations();
export const operationIds = Object.keys(operations) as OperationId[];

export function isOperationId(value: string): value is OperationId {
  return Object.hasOwn(operations, value);
}

export interface SchemaIssue {
  /** JSON pointer into the validated value, e.g. `/conversations/3/created_at`; empty for the root. */
  readonly path: string;
  readonly message: string;
}

export type SchemaCheck = { ok: true } | { ok: false; issues: SchemaIssue[] };

const SPEC_ID = 'amigo-openapi.json';

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function getAjv(): Ajv2020 {
  if (!ajv) {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12 plus `discriminator`; the `oneOf` branches are
    // already told apart by their `type` const, so the keyword is accepted and needs no logic.
    ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    ajv.addKeyword({ keyword: 'discriminator' });
    (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
    ajv.addSchema({ $id: SPEC_ID, components: spec.components }, SPEC_ID);
  }
  return ajv;
}

function issuesOf(errors: ErrorObject[] | null | undefined): SchemaIssue[] {
  return (errors ?? []).map((e) => {
    const missing =
      e.keyword === 'required' ? `/${(e.params as { missingProperty: string }).missingProperty}` : '';
    return { path: `${e.instancePath}${missing}`, message: e.message ?? e.keyword };
  });
}

/** Validates `value` against a named component schema of the spec. Extra properties are allowed and kept. */
export function checkSchema(schemaName: string, value: unknown): SchemaCheck {
  let validate = compiled.get(schemaName);
  if (!validate) {
    const found = getAjv().getSchema(`${SPEC_ID}#/components/schemas/${schemaName}`);
    if (!found) throw new Error(`The spec has no component schema named ${schemaName}`);
    validate = found;
    compiled.set(schemaName, validate);
  }
  if (validate(value)) return { ok: true };
  const errors = validate.errors ?? [];
  return { ok: false, issues: simplify(value, issuesOf(errors), errors) };
}

/** Validates the JSON body of a successful response of `operationId`. */
export function checkResponse(operationId: OperationId, value: unknown): SchemaCheck {
  const schema = operations[operationId].responseSchema;
  return schema ? checkSchema(schema, value) : { ok: true };
}

interface Discriminator {
  propertyName: string;
  mapping: Record<string, string>;
}

const discriminators: Discriminator[] = Object.values(spec.components.schemas as Record<string, unknown>)
  .map((s) => (s as { discriminator?: Discriminator }).discriminator)
  .filter((d): d is Discriminator => d !== undefined);

function pointerGet(root: unknown, pointer: string): unknown {
  let node = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

// A failed `oneOf` reports the complaints of every branch. Where the value names its branch through
// a discriminator property, report only that branch's complaints, which name the real field.
function simplify(root: unknown, issues: SchemaIssue[], errors: ErrorObject[]): SchemaIssue[] {
  let result = issues;
  for (const e of errors) {
    if (e.keyword !== 'oneOf') continue;
    const value = pointerGet(root, e.instancePath) as Record<string, unknown> | undefined;
    const target = discriminators
      .map((d) => d.mapping[String(value?.[d.propertyName])])
      .find((ref): ref is string => ref !== undefined);
    const branch = refName(target);
    if (!branch) continue;
    const inner = checkSchema(branch, value);
    if (inner.ok) continue;
    const under = (p: string) => p === e.instancePath || p.startsWith(`${e.instancePath}/`);
    result = [
      ...result.filter((i) => !under(i.path)),
      ...inner.issues.map((i) => ({ path: e.instancePath + i.path, message: i.message })),
    ];
  }
  const seen = new Set<string>();
  return result.filter((i) => {
    const key = `${i.path}|${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function formatIssues(issues: readonly SchemaIssue[], limit = 5): string {
  const shown = issues.slice(0, limit).map((i) => `${i.path || '(root)'}: ${i.message}`);
  const more = issues.length > limit ? ` (and ${issues.length - limit} more)` : '';
  return shown.join('; ') + more;
}

export type { SpecOperations as Operations };
