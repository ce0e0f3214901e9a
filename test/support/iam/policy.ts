// Reads a function role's IAM statements out of a synthesized CloudFormation template, and matches
// (action, resource) pairs against them.
//
// Why: the least-privilege test checks both ways: every permission a function used (permissions.ts) is
// allowed by its role, and every (action, resource) its role allows was used, save a short platform
// allow-list.
//
// - `resolveIntrinsics` replaces Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split with
//   strings; pseudo parameters are answered here, other Refs and GetAtts by the caller's resolver.
// - `rolePolicyStatements` collects the statements of a role: its inline `Policies` and every
//   AWS::IAM::Policy attached to it. Give it a resolved template (the Refs in a policy's `Roles` may be
//   left as they are, or resolved to the role's logical id or its RoleName).
// - `allowingStatement` applies IAM's Allow/Deny rule to one pair; `unusedGrants` lists what the
//   Allow statements grant that nothing used.
//
// What it does NOT do: conditions, NotAction / NotResource, policy variables, managed policies,
// permissions boundaries, Fn::If or any other intrinsic. Each of those THROWS instead of being
// ignored: the stack does not use them, and one appearing must be looked at, and the matcher
// extended deliberately. A `*` in a resource pattern matches across `:` and `/` (one glob over the
// whole ARN, not IAM's per-segment match), which is what every pattern in this stack needs.
import type { Permission } from './permissions.ts';

export type Resolver = (intrinsic: { Ref: string } | { 'Fn::GetAtt': [string, string] }) => string;

export interface Pseudo {
  region: string;
  account: string;
  /** Default `aws`. */
  partition?: string;
  /** Default `AmigoQa`. */
  stackName?: string;
}

export interface Statement {
  effect: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
  notActions?: string[];
  notResources?: string[];
  condition?: unknown;
  sid?: string;
}

/** A grant the platform needs although no handler code uses it (logs, X-Ray, the SQS event source). */
export interface PlatformGrant {
  /** A plain action or a narrow pattern (`xray:Put*`); never `*` or `service:*`. */
  action: string;
  /** The granted resource, exactly, or a RegExp it must match. */
  resource: string | RegExp;
  why: string;
}

export interface Template {
  Resources: Record<string, { Type: string; Properties?: unknown }>;
}

// ---------------------------------------------------------------------------------------------------
// Intrinsic functions

/** `value` with every supported intrinsic function replaced by its string (or list) value. */
export function resolveIntrinsics(value: unknown, resolve: Resolver, pseudo: Pseudo): unknown {
  const pseudoValues: Record<string, string> = {
    'AWS::Region': pseudo.region,
    'AWS::AccountId': pseudo.account,
    'AWS::Partition': pseudo.partition ?? 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': pseudo.stackName ?? 'AmigoQa',
  };

  const ref = (name: string): string => {
    if (Object.hasOwn(pseudoValues, name)) return pseudoValues[name] as string;
    if (name === 'AWS::NoValue') throw new Error('Ref AWS::NoValue is not supported');
    return answered(resolve({ Ref: name }), `Ref ${name}`);
  };
  const getAtt = (logicalId: string, attribute: string): string =>
    answered(resolve({ 'Fn::GetAtt': [logicalId, attribute] }), `Fn::GetAtt ${logicalId}.${attribute}`);

  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const keys = Object.keys(node);
    const only = keys.length === 1 ? keys[0] : undefined;
    const arg = only === undefined ? undefined : (node as Record<string, unknown>)[only];
    if (only === 'Ref') return ref(str(walk(arg), 'Ref'));
    if (only?.startsWith('Fn::')) {
      switch (only) {
        case 'Fn::GetAtt': {
          const parts = typeof arg === 'string' ? splitOnce(arg, 'Fn::GetAtt') : list(walk(arg), only);
          if (parts.length !== 2) throw new Error(`Fn::GetAtt needs [logicalId, attribute]: ${json(arg)}`);
          return getAtt(str(parts[0], only), str(parts[1], only));
        }
        case 'Fn::Join': {
          const [delimiter, values] = pair(arg, only);
          return strings(walk(values), only).join(str(delimiter, only));
        }
        case 'Fn::Sub': {
          const [template, vars] = typeof arg === 'string' ? [arg, {}] : pair(arg, only);
          const resolvedVars = walk(vars);
          if (resolvedVars === null || typeof resolvedVars !== 'object' || Array.isArray(resolvedVars)) {
            throw new Error(`Fn::Sub variables must be an object: ${json(vars)}`);
          }
          return sub(str(template, only), resolvedVars as Record<string, unknown>, ref, getAtt);
        }
        case 'Fn::Select': {
          const [index, values] = pair(arg, only);
          const i = Number(walk(index));
          const items = list(walk(values), only);
          if (!Number.isInteger(i) || i < 0 || i >= items.length) {
            throw new Error(`Fn::Select index ${json(index)} is out of range for ${json(items)}`);
          }
          return items[i];
        }
        case 'Fn::Split': {
          const [delimiter, source] = pair(arg, only);
          return str(walk(source), only).split(str(delimiter, only));
        }
        case 'Fn::If':
          throw new Error(`Fn::If is not supported (conditions are not evaluated): ${json(arg)}`);
        default:
          throw new Error(`intrinsic ${only} is not supported: ${json(arg)}`);
      }
    }
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]));
  };
  return walk(value);
}

function sub(
  template: string,
  vars: Record<string, unknown>,
  ref: (name: string) => string,
  getAtt: (logicalId: string, attribute: string) => string,
): string {
  return template.replace(/\$\{([^}]*)\}/g, (_, inner: string) => {
    if (inner.startsWith('!')) return `\${${inner.slice(1)}}`; // `${!Literal}` writes `${Literal}`
    const name = inner.trim();
    if (Object.hasOwn(vars, name)) return str(vars[name], `Fn::Sub variable ${name}`);
    if (name.includes('::')) return ref(name); // pseudo parameter
    const dot = name.indexOf('.');
    return dot < 0 ? ref(name) : getAtt(name.slice(0, dot), name.slice(dot + 1));
  });
}

function splitOnce(value: string, what: string): string[] {
  const dot = value.indexOf('.');
  if (dot <= 0) throw new Error(`${what} needs "logicalId.attribute": ${value}`);
  return [value.slice(0, dot), value.slice(dot + 1)];
}

function pair(arg: unknown, what: string): [unknown, unknown] {
  if (!Array.isArray(arg) || arg.length !== 2) throw new Error(`${what} needs two arguments: ${json(arg)}`);
  return [arg[0], arg[1]];
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what} needs a list: ${json(value)}`);
  return value;
}

function strings(value: unknown, what: string): string[] {
  return list(value, what).map((item) => str(item, what));
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} needs a string, got ${json(value)}`);
  return value;
}

function answered(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`the resolver answered ${what} with ${json(value)}`);
  return value;
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

// ---------------------------------------------------------------------------------------------------
// Collecting a role's statements

/**
 * The statements granted to role `roleLogicalId`: its inline `Policies`, then every AWS::IAM::Policy
 * whose `Roles` names it. Throws on managed policies, permissions boundaries and unresolved values.
 */
export function rolePolicyStatements(template: Template, roleLogicalId: string): Statement[] {
  const resources = template.Resources;
  const role = Object.hasOwn(resources, roleLogicalId) ? resources[roleLogicalId] : undefined;
  if (role?.Type !== 'AWS::IAM::Role')
    throw new Error(`${roleLogicalId} is not an AWS::IAM::Role in the template`);
  const props = record(role.Properties ?? {}, roleLogicalId);
  const managed = props.ManagedPolicyArns;
  if (managed !== undefined && !(Array.isArray(managed) && managed.length === 0)) {
    throw new Error(
      `role ${roleLogicalId} has ManagedPolicyArns ${json(managed)}: managed policies are not checked`,
    );
  }
  if (props.PermissionsBoundary !== undefined) {
    throw new Error(`role ${roleLogicalId} has a PermissionsBoundary: boundaries are not checked`);
  }

  const statements: Statement[] = [];
  for (const [i, inline] of list(props.Policies ?? [], `${roleLogicalId}.Policies`).entries()) {
    const where = `${roleLogicalId}.Policies[${i}]`;
    statements.push(...documentStatements(record(inline, where).PolicyDocument, where));
  }

  const names = roleNames(resources);
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const policy = record(resource.Properties ?? {}, logicalId);
    const attached = list(policy.Roles ?? [], `${logicalId}.Roles`).some(
      (entry) => attachedRole(entry, names, logicalId) === roleLogicalId,
    );
    if (!attached) continue;
    if (resource.Type === 'AWS::IAM::ManagedPolicy') {
      throw new Error(
        `managed policy ${logicalId} is attached to ${roleLogicalId}: managed policies are not checked`,
      );
    }
    statements.push(...documentStatements(policy.PolicyDocument, logicalId));
  }
  return statements;
}

/** Role logical id by the strings a resolved `Roles` entry may hold: the logical id or the RoleName. */
function roleNames(resources: Template['Resources']): Map<string, string> {
  const names = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    names.set(logicalId, logicalId);
    const roleName = (resource.Properties as { RoleName?: unknown } | undefined)?.RoleName;
    if (typeof roleName === 'string') names.set(roleName, logicalId);
  }
  return names;
}

function attachedRole(entry: unknown, names: Map<string, string>, policyId: string): string {
  if (typeof entry === 'object' && entry !== null && typeof (entry as { Ref?: unknown }).Ref === 'string') {
    return (entry as { Ref: string }).Ref;
  }
  const found = typeof entry === 'string' ? names.get(entry) : undefined;
  if (found === undefined) {
    throw new Error(
      `policy ${policyId} is attached to ${json(entry)}, which is no role's logical id or RoleName here: ` +
        "leave Roles unresolved, or resolve a role's Ref to its logical id",
    );
  }
  return found;
}

function documentStatements(document: unknown, where: string): Statement[] {
  const raw = record(document, `${where}.PolicyDocument`).Statement;
  const items = Array.isArray(raw) ? raw : [raw];
  return items.map((item, i) => statement(item, `${where} statement ${i}`));
}

const STATEMENT_KEYS = new Set([
  'Sid',
  'Effect',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);

function statement(item: unknown, where: string): Statement {
  const s = record(item, where);
  for (const key of Object.keys(s)) {
    if (!STATEMENT_KEYS.has(key)) throw new Error(`${where}: ${key} has no place in a role policy statement`);
  }
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new Error(`${where}: Effect is ${json(s.Effect)}`);
  const out: Statement = {
    effect: s.Effect,
    actions: stringList(s.Action, `${where} Action`),
    resources: stringList(s.Resource, `${where} Resource`),
  };
  if (s.NotAction !== undefined) out.notActions = stringList(s.NotAction, `${where} NotAction`);
  if (s.NotResource !== undefined) out.notResources = stringList(s.NotResource, `${where} NotResource`);
  if (s.Condition !== undefined) out.condition = s.Condition;
  if (s.Sid !== undefined) out.sid = str(s.Sid, `${where} Sid`);
  return out;
}

/** A single string or a list of strings, as a list; anything else (an unresolved intrinsic) throws. */
function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new Error(`${where} holds ${json(item)}, not a string: resolve the template first`);
    }
  }
  return items as string[];
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where} should be an object, got ${json(value)}`);
  }
  return value as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Matching

/**
 * The Allow statement that lets `action` on `resource` through, or undefined when none does or an
 * explicit Deny matches. Throws if any statement has a Condition, NotAction or NotResource.
 */
export function allowingStatement(
  statements: readonly Statement[],
  action: string,
  resource: string,
): Statement | undefined {
  statements.forEach(checkSupported);
  const matches = (s: Statement) =>
    s.actions.some((p) => matchAction(p, action)) && s.resources.some((p) => matchResource(p, resource));
  if (statements.some((s) => s.effect === 'Deny' && matches(s))) return undefined;
  return statements.find((s) => s.effect === 'Allow' && matches(s));
}

/**
 * Every (action pattern, resource pattern) of every Allow statement that no `used` permission matches
 * and no `platform` entry covers.
 */
export function unusedGrants(
  statements: readonly Statement[],
  used: readonly Permission[],
  platform: readonly PlatformGrant[],
): Array<{ action: string; resource: string; sid?: string }> {
  statements.forEach(checkSupported);
  for (const grant of platform) {
    if (!grant.action.includes(':') || grant.action === '*' || grant.action.endsWith(':*')) {
      throw new Error(`platform grant "${grant.action}" is too broad: name actions, or a narrow pattern`);
    }
  }
  const unused: Array<{ action: string; resource: string; sid?: string }> = [];
  const seen = new Set<string>();
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    for (const action of s.actions) {
      for (const resource of s.resources) {
        if (used.some((p) => matchAction(action, p.action) && matchResource(resource, p.resource))) continue;
        if (platform.some((g) => covers(g, action, resource))) continue;
        const key = `${action}\n${resource}\n${s.sid ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        unused.push(s.sid === undefined ? { action, resource } : { action, resource, sid: s.sid });
      }
    }
  }
  return unused;
}

function covers(grant: PlatformGrant, action: string, resource: string): boolean {
  if (!matchAction(grant.action, action)) return false;
  if (typeof grant.resource === 'string') return grant.resource === resource;
  grant.resource.lastIndex = 0; // a /g or /y RegExp keeps state between tests
  return grant.resource.test(resource);
}

function checkSupported(s: Statement): void {
  const what = s.sid === undefined ? 'a statement' : `statement ${s.sid}`;
  if (s.condition !== undefined)
    throw new Error(`${what} has a Condition: the matcher does not evaluate them`);
  if (s.notActions !== undefined || s.notResources !== undefined) {
    throw new Error(`${what} uses NotAction/NotResource: the matcher does not support them`);
  }
}

/** IAM action match: case-insensitive, `*` and `?` wildcards. */
export function matchAction(pattern: string, action: string): boolean {
  return glob(pattern, true).test(action);
}

/** IAM resource match: case-sensitive, `*` and `?` wildcards. */
export function matchResource(pattern: string, resource: string): boolean {
  return glob(pattern, false).test(resource);
}

const globs = new Map<string, RegExp>();

function glob(pattern: string, ignoreCase: boolean): RegExp {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let re = globs.get(key);
  if (re === undefined) {
    if (pattern.includes('${')) throw new Error(`policy variables are not supported: ${pattern}`);
    const source = pattern
      .replace(/[.+^$()|[\]{}\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
    globs.set(key, re);
  }
  return re;
}
