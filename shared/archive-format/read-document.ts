// The one way a stored JSON document is read back: parsed and validated against its schema
// (shared/archive-format/documents.ts). A document that does not fit is a permanent error naming
// the key and the first bad field: retrying cannot fix a stored file, a person must look at it.
import type * as z from 'zod';
import { PermanentError } from '../errors.ts';
import type { ArchiveStore } from '../ports/archive-store.ts';

/** A stored document that is not JSON or does not fit its schema. */
export class InvalidDocumentError extends PermanentError {
  /** What is wrong, without the key: `is not JSON`, `field runs: expected number`. */
  readonly problem: string;
  constructor(key: string, problem: string, cause?: unknown) {
    super(`The stored document ${key} is invalid: ${problem}`, {
      context: { key, problem },
      cause,
      hint: 'See docs/archive-format.md for its format; restore it from a backup or delete it',
    });
    this.problem = problem;
  }
}

/** Parses a stored document's bytes. Throws {@link InvalidDocumentError} naming `key`. */
export function parseDocument<S extends z.ZodType>(
  key: string,
  body: Buffer | string,
  schema: S,
): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    throw new InvalidDocumentError(key, 'is not JSON', error);
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : '(the document itself)';
  throw new InvalidDocumentError(key, `field ${field}: ${issue?.message ?? 'invalid'}`, parsed.error);
}

/** The document at `key`, validated, or undefined when there is none. */
export async function readDocument<S extends z.ZodType>(
  store: Pick<ArchiveStore, 'get'>,
  key: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  return (await readVersionedDocument(store, key, schema))?.value;
}

/** Like {@link readDocument}, with the etag a compare-and-swap write needs. */
export async function readVersionedDocument<S extends z.ZodType>(
  store: Pick<ArchiveStore, 'get'>,
  key: string,
  schema: S,
): Promise<{ value: z.output<S>; etag: string } | undefined> {
  const found = await store.get(key);
  if (!found) return undefined;
  return { value: parseDocument(key, found.body, schema), etag: found.etag };
}
