// The tables writer's wiring: its two variables read and validated per cold start (a missing one
// fails naming it), the archive bucket through the S3 adapter. It needs no Amigo credentials, no
// rate budget and no queue: it reads the archive and writes `tables/`.
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { S3ArchiveStore } from '../adapters/s3-archive-store.ts';
import { ENV, TABLES_WRITER } from '../contract/topology.ts';
import { ConfigurationError } from '../errors.ts';
import { logger } from '../observability.ts';
import { systemClock } from '../ports/clock.ts';
import type { WriteTablesDeps } from '../stages/write-tables.ts';

const EnvSchema = z.object({
  [ENV.archiveBucket]: z.string().trim().min(1, 'is not set'),
  [ENV.archivePrefix]: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
});

/** What the schedule sends: how far back to look (the topology's default when left out). */
export const TablesWriterEventSchema = z
  .object({
    lookbackHours: z
      .number()
      .positive()
      .max(24 * 400)
      .optional(),
  })
  .loose();

let cached: Promise<WriteTablesDeps> | undefined;

export function tablesWriterDeps(env: NodeJS.ProcessEnv = process.env): WriteTablesDeps {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigurationError(
      name,
      `${issue?.code === 'invalid_type' ? 'is not set' : (issue?.message ?? 'is invalid')} (the ${TABLES_WRITER.name} function reads it at start-up)`,
      'The CDK stack sets it: deploy again with `npx cdk deploy`, or check the function configuration',
    );
  }
  const prefix = parsed.data[ENV.archivePrefix];
  const store = new S3ArchiveStore({
    client: new S3Client({}),
    bucket: parsed.data[ENV.archiveBucket],
    ...(prefix ? { prefix } : {}),
  });
  return { store, clock: systemClock, log: logger };
}

/** Built once per cold start. */
export function lambdaTablesWriterDeps(): Promise<WriteTablesDeps> {
  cached ??= Promise.resolve().then(() => tablesWriterDeps());
  return cached;
}
