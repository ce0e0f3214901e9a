// Branded ids: a ConversationId cannot be passed where an InteractionId is expected.
import * as z from 'zod';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type ConversationId = Brand<string, 'ConversationId'>;
export type InteractionId = Brand<string, 'InteractionId'>;
export type MessageId = Brand<string, 'MessageId'>;
export type RunId = Brand<string, 'RunId'>;
export type OrganizationId = Brand<string, 'OrganizationId'>;

/** Amigo's ids (conversations, interactions, messages, services): MongoDB ObjectIds, 24 lowercase hex. */
export const OBJECT_ID = /^[a-f0-9]{24}$/;

const objectId = z.string().regex(OBJECT_ID, 'must be a 24-character lowercase hex id');

export const ConversationIdSchema = objectId.transform((s) => s as ConversationId);
export const InteractionIdSchema = objectId.transform((s) => s as InteractionId);
export const MessageIdSchema = objectId.transform((s) => s as MessageId);
export const RunIdSchema = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z_-]{5,80}$/, 'must be a run id (letters, digits, _ and -)')
  .transform((s) => s as RunId);

/**
 * An Amigo organisation id as amigo-qa accepts it: letters, digits, _ and -, at most 128. It becomes
 * a key segment (`org=<id>/`) and an Athena partition value, so nothing that could break either
 * (`/`, `=`, `.`, a comma of the `-c organization=` list) gets through. The one rule for the
 * AMIGO_ORGANIZATION_ID variable, the stack's `-c organization=`, `tables rebuild --org` and the
 * tables' partition keys.
 */
export const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const OrganizationIdSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .regex(ORGANIZATION_ID, 'must be an organization id: letters, digits, _ and -, at most 128 characters')
  .transform((s) => s as OrganizationId);

export function conversationId(value: string): ConversationId {
  return ConversationIdSchema.parse(value);
}
export function interactionId(value: string): InteractionId {
  return InteractionIdSchema.parse(value);
}

/** A sortable, unique run id: `2026-11-26T02-00-00Z-<6 hex>`. */
export function newRunId(now: number, random: () => number = Math.random): RunId {
  const stamp = new Date(now)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
  const suffix = Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `${stamp}-${suffix}` as RunId;
}

/** When a run id of {@link newRunId} says its run started (epoch ms, whole seconds); undefined for any other id. */
export function runIdStartedAt(runId: string): number | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z-[0-9a-f]+$/.exec(runId);
  if (!match) return undefined;
  const [, day, hours, minutes, seconds] = match;
  const started = Date.parse(`${day}T${hours}:${minutes}:${seconds}Z`);
  return Number.isFinite(started) ? started : undefined;
}
