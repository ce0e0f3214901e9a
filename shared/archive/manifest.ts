// The manifest: written last, create-only; its presence commits a conversation's archive folder.
import * as z from 'zod';
import { MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION } from './layout.ts';

export const ManifestFileSchema = z.object({
  path: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  content_type: z.string(),
});

export const ManifestSchema = z.looseObject({
  schema: z.literal(MANIFEST_SCHEMA),
  schema_version: z.literal(MANIFEST_SCHEMA_VERSION),
  organization_id: z.string(),
  conversation_id: z.string(),
  service_id: z.string(),
  created_at: z.string(),
  archived_at: z.string(),
  run_id: z.string().nullable(),
  counts: z.object({
    messages: z.number().int().nonnegative(),
    messages_by_type: z.record(z.string(), z.number().int().nonnegative()),
    interactions: z.number().int().nonnegative(),
    insights: z.number().int().nonnegative(),
    audio: z.number().int().nonnegative(),
  }),
  api: z.object({ num_messages: z.number().int().nonnegative() }),
  flags: z.array(z.enum(['num_messages_mismatch'])),
  files: z.array(ManifestFileSchema),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function parseManifest(text: string): Manifest {
  return ManifestSchema.parse(JSON.parse(text));
}

/** Same files with the same bytes: the manifests describe the same archive. */
export function sameFiles(a: readonly ManifestFile[], b: readonly ManifestFile[]): boolean {
  if (a.length !== b.length) return false;
  const byPath = new Map(a.map((f) => [f.path, f]));
  return b.every((f) => {
    const other = byPath.get(f.path);
    return other !== undefined && other.sha256 === f.sha256 && other.bytes === f.bytes;
  });
}
