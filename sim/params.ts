// Request parsing driven by the spec: routes come from the operation table, and every path, query and
// header parameter is coerced and checked against its schema in the spec (type, pattern, bounds, enum,
// defaults). Failures are reported the way FastAPI does (422 with `detail: [{loc, msg, type}]`).
import type { IncomingHttpHeaders } from 'node:http';
import { checkSchema, type OperationId, operations, spec } from '../shared/openapi/index.ts';

export interface JsonSchema {
  $ref?: string;
  type?: string;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  maximum?: number;
  minimum?: number;
  exclusiveMaximum?: number;
  exclusiveMinimum?: number;
  uniqueItems?: boolean;
  default?: unknown;
}

export interface ParamSpec {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: JsonSchema;
}

export interface ValidationIssue {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

export interface Route {
  operationId: OperationId;
  method: string;
  template: string;
  regex: RegExp;
  params: ParamSpec[];
  requestSchema: string | undefined;
  requestRequired: boolean;
  requestDefault: unknown;
}

const schemas = spec.components.schemas as unknown as Record<string, JsonSchema>;

export function resolveSchema(schema: JsonSchema): JsonSchema {
  let current = schema;
  for (let guard = 0; current.$ref && guard < 10; guard++) {
    const name = current.$ref.replace('#/components/schemas/', '');
    current = { ...(schemas[name] ?? {}), ...withoutRef(current) };
  }
  return current;
}

function withoutRef(schema: JsonSchema): JsonSchema {
  const { $ref: _ref, ...rest } = schema;
  return rest;
}

interface SpecOperationShape {
  parameters?: ParamSpec[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function buildRoutes(): Route[] {
  return Object.values(operations).map((op) => {
    const raw = (spec.paths as unknown as Record<string, Record<string, SpecOperationShape>>)[op.path]?.[
      op.method.toLowerCase()
    ] as SpecOperationShape;
    const source = op.path
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith('{') ? `(?<${part.slice(1, -1)}>[^/]+)` : escapeRegex(part)))
      .join('');
    const body = raw.requestBody?.content?.['application/json']?.schema;
    return {
      operationId: op.operationId,
      method: op.method,
      template: op.path,
      regex: new RegExp(`^${source}$`),
      params: raw.parameters ?? [],
      requestSchema: op.requestSchema,
      requestRequired: raw.requestBody?.required === true,
      requestDefault: body?.default,
    };
  });
}

export const routes: readonly Route[] = buildRoutes();

export type RouteMatch =
  | { kind: 'match'; route: Route; pathParams: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'none' };

export function matchRoute(method: string, pathname: string): RouteMatch {
  const allow: string[] = [];
  for (const route of routes) {
    const m = route.regex.exec(pathname);
    if (!m) continue;
    if (route.method !== method) {
      allow.push(route.method);
      continue;
    }
    const pathParams: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.groups ?? {})) {
      try {
        pathParams[k] = decodeURIComponent(v);
      } catch {
        pathParams[k] = v;
      }
    }
    return { kind: 'match', route, pathParams };
  }
  return allow.length ? { kind: 'method-not-allowed', allow } : { kind: 'none' };
}

const TRUE = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f', 'n']);

function quoteList(values: unknown[]): string {
  const quoted = values.map((v) => `'${String(v)}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}` : (quoted[0] ?? '');
}

/** Coerces one raw string (or list of strings, for arrays) to the schema, collecting issues. */
function coerce(
  schemaIn: JsonSchema,
  raw: string | string[],
  loc: Array<string | number>,
  issues: ValidationIssue[],
): unknown {
  const schema = resolveSchema(schemaIn);
  if (schema.anyOf) {
    const branches = schema.anyOf.map(resolveSchema).filter((b) => b.type !== 'null');
    let firstIssues: ValidationIssue[] | undefined;
    for (const branch of branches) {
      const branchIssues: ValidationIssue[] = [];
      const value = coerce(branch, raw, loc, branchIssues);
      if (!branchIssues.length) return value;
      firstIssues ??= branchIssues;
    }
    issues.push(...(firstIssues ?? []));
    return undefined;
  }
  if (schema.type === 'array') {
    const list = Array.isArray(raw) ? raw : [raw];
    const values = list.map((item, i) => coerce(schema.items ?? {}, item, [...loc, i], issues));
    // Python sets drop duplicates rather than rejecting them.
    return schema.uniqueItems ? [...new Set(values)] : values;
  }
  const text = Array.isArray(raw) ? (raw.at(-1) ?? '') : raw;
  let value: unknown = text;
  switch (schema.type) {
    case 'integer': {
      if (!/^\s*[+-]?\d+\s*$/.test(text)) {
        issues.push({
          type: 'int_parsing',
          loc,
          msg: 'Input should be a valid integer, unable to parse string as an integer',
          input: text,
        });
        return undefined;
      }
      value = Number(text.trim());
      break;
    }
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) {
        issues.push({ type: 'float_parsing', loc, msg: 'Input should be a valid number', input: text });
        return undefined;
      }
      value = n;
      break;
    }
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      if (!TRUE.has(lower) && !FALSE.has(lower)) {
        issues.push({
          type: 'bool_parsing',
          loc,
          msg: 'Input should be a valid boolean, unable to interpret input',
          input: text,
        });
        return undefined;
      }
      value = TRUE.has(lower);
      break;
    }
    default:
      break;
  }
  checkConstraints(schema, value, loc, issues);
  return value;
}

function checkConstraints(
  schema: JsonSchema,
  value: unknown,
  loc: Array<string | number>,
  issues: ValidationIssue[],
): void {
  if (schema.enum && !schema.enum.includes(value)) {
    const expected = quoteList(schema.enum);
    issues.push({ type: 'enum', loc, msg: `Input should be ${expected}`, input: value, ctx: { expected } });
  }
  if (typeof value === 'number') {
    if (schema.maximum !== undefined && value > schema.maximum) {
      issues.push({
        type: 'less_than_equal',
        loc,
        msg: `Input should be less than or equal to ${schema.maximum}`,
        input: value,
        ctx: { le: schema.maximum },
      });
    }
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
      issues.push({
        type: 'less_than',
        loc,
        msg: `Input should be less than ${schema.exclusiveMaximum}`,
        input: value,
        ctx: { lt: schema.exclusiveMaximum },
      });
    }
    if (schema.minimum !== undefined && value < schema.minimum) {
      issues.push({
        type: 'greater_than_equal',
        loc,
        msg: `Input should be greater than or equal to ${schema.minimum}`,
        input: value,
        ctx: { ge: schema.minimum },
      });
    }
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
      issues.push({
        type: 'greater_than',
        loc,
        msg: `Input should be greater than ${schema.exclusiveMinimum}`,
        input: value,
        ctx: { gt: schema.exclusiveMinimum },
      });
    }
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      issues.push({
        type: 'string_too_short',
        loc,
        msg: `String should have at least ${schema.minLength} character${schema.minLength === 1 ? '' : 's'}`,
        input: value,
        ctx: { min_length: schema.minLength },
      });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      issues.push({
        type: 'string_pattern_mismatch',
        loc,
        msg: `String should match pattern '${schema.pattern}'`,
        input: value,
        ctx: { pattern: schema.pattern },
      });
    }
  }
}

export interface ParsedParameters {
  values: Record<string, unknown>;
  issues: ValidationIssue[];
}

/** Reads every parameter the spec declares for the route from the path, the query and the headers. */
export function parseParameters(
  route: Route,
  pathParams: Record<string, string>,
  query: URLSearchParams,
  headers: IncomingHttpHeaders,
): ParsedParameters {
  const values: Record<string, unknown> = {};
  const issues: ValidationIssue[] = [];
  for (const param of route.params) {
    const loc = [param.in, param.name];
    let raw: string | string[] | undefined;
    if (param.in === 'path') raw = pathParams[param.name];
    else if (param.in === 'query') {
      const all = query.getAll(param.name);
      raw = all.length ? all : undefined;
    } else if (param.in === 'header') {
      const h = headers[param.name.toLowerCase()];
      const resolved = resolveSchema(param.schema);
      raw =
        h === undefined
          ? undefined
          : resolved.type === 'array'
            ? String(h)
                .split(',')
                .map((s) => s.trim())
            : String(h);
    }
    if (raw === undefined) {
      if (param.required) issues.push({ type: 'missing', loc, msg: 'Field required', input: null });
      else if (param.schema.default !== undefined) values[param.name] = structuredClone(param.schema.default);
      else values[param.name] = null;
      continue;
    }
    values[param.name] = coerce(param.schema, raw, loc, issues);
  }
  return { values, issues };
}

/**
 * Mirrors pydantic's coercion before validation: values of `StrippedNonemptyString` types are stripped of
 * surrounding whitespace, and arrays that are sets in the spec (`uniqueItems`) drop duplicates.
 */
export function normalizeBody(schemaIn: JsonSchema, value: unknown): unknown {
  const stripped = schemaIn.$ref?.includes('StrippedNonemptyString') === true;
  const schema = resolveSchema(schemaIn);
  if (typeof value === 'string') return stripped ? value.trim() : value;
  if (Array.isArray(value)) {
    const items = value.map((v) => normalizeBody(schema.items ?? {}, v));
    return schema.uniqueItems && items.every((i) => typeof i !== 'object' || i === null)
      ? [...new Set(items)]
      : items;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const keyStripped = schema.propertyNames?.$ref?.includes('StrippedNonemptyString') === true;
    for (const [k, v] of Object.entries(value)) {
      const key = keyStripped ? k.trim() : k;
      const propSchema =
        schema.properties?.[k] ??
        (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : {});
      const options = propSchema.anyOf ?? [propSchema];
      const branch = options.find((o) => o.type !== 'null') ?? {};
      out[key] = normalizeBody(branch, v);
    }
    return out;
  }
  return value;
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; issues: ValidationIssue[] };

/** Parses and validates a JSON request body against the route's request schema. */
export function parseBody(route: Route, text: string): BodyResult {
  if (!route.requestSchema) return { ok: true, value: undefined };
  if (text.trim() === '') {
    if (route.requestRequired) {
      return { ok: false, issues: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] };
    }
    return { ok: true, value: structuredClone(route.requestDefault ?? {}) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      issues: [
        {
          type: 'json_invalid',
          loc: ['body', 0],
          msg: 'JSON decode error',
          input: {},
          ctx: { error: (error as Error).message },
        },
      ],
    };
  }
  const value = withDefaults(
    resolveSchema({ $ref: `#/components/schemas/${route.requestSchema}` }),
    normalizeBody({ $ref: `#/components/schemas/${route.requestSchema}` }, parsed),
  );
  const check = checkSchema(route.requestSchema, value);
  if (check.ok) return { ok: true, value };
  return {
    ok: false,
    issues: check.issues.map((issue) => ({
      type: 'value_error',
      loc: ['body', ...issue.path.split('/').slice(1).map(decodePointer)],
      msg: issue.message,
      input: pointerValue(value, issue.path),
    })),
  };
}

/** Fills in the defaults the spec gives for omitted top-level properties, as pydantic does. */
function withDefaults(schema: JsonSchema, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out = { ...(value as Record<string, unknown>) };
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const fallback = prop.default ?? resolveSchema(prop).default;
    if (!Object.hasOwn(out, name) && fallback !== undefined) out[name] = structuredClone(fallback);
  }
  return out;
}

function decodePointer(segment: string): string | number {
  const text = segment.replaceAll('~1', '/').replaceAll('~0', '~');
  return /^\d+$/.test(text) ? Number(text) : text;
}

function pointerValue(root: unknown, pointer: string): unknown {
  let node = root;
  for (const seg of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[String(decodePointer(seg))];
  }
  return node;
}
