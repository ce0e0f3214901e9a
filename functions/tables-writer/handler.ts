// Tables writer: invoked by its schedule (shared/contract/topology.ts, TABLES_WRITER), it writes
// the Parquet parts of every recent run again from the archive (shared/stages/write-recent-tables.ts),
// so Athena's tables hold each night's conversations, tags and stalls as they land.
import type { Context } from 'aws-lambda';
import { TABLES_WRITER } from '../../shared/contract/topology.ts';
import { METRIC, metrics } from '../../shared/observability.ts';
import { lambdaHandler, trackDeps } from '../../shared/runtime/middleware.ts';
import { lambdaTablesWriterDeps, TablesWriterEventSchema } from '../../shared/runtime/tables-writer.ts';
import {
  type RecentTablesResult,
  recentTablesFailure,
  writeRecentTables,
} from '../../shared/stages/write-recent-tables.ts';
import type { WriteTablesDeps } from '../../shared/stages/write-tables.ts';

export interface TablesWriterOutput {
  readonly runs: number;
  readonly parts: number;
  readonly rows: number;
  readonly unreadable: readonly string[];
}

export type TablesWriterDeps = WriteTablesDeps & { readonly afterInvocation?: () => Promise<void> };

export function createTablesWriterHandler(getDeps: () => Promise<TablesWriterDeps>) {
  const tracked = trackDeps(getDeps);
  return lambdaHandler(async (event: unknown, _context: Context): Promise<TablesWriterOutput> => {
    const input = TablesWriterEventSchema.parse(event ?? {});
    const lookbackHours = input.lookbackHours ?? TABLES_WRITER.lookbackHours;
    const result: RecentTablesResult = await writeRecentTables(await tracked.get(), { lookbackHours });
    const parts = [
      ...result.runs.flatMap((r) => r.result.parts),
      ...(result.scans === 'failed' ? [] : result.scans.parts),
    ];
    const rows = parts.reduce((n, p) => n + p.rows, 0);
    metrics.addMetric(METRIC.tablePartsWritten, 'Count', parts.length);
    const failure = recentTablesFailure(result);
    if (failure) throw failure;
    return { runs: result.runs.length, parts: parts.length, rows, unreadable: result.unreadable };
  }, tracked);
}

// Lambda wiring: dependencies built once per cold start from the environment (shared/runtime).
export const handler = createTablesWriterHandler(lambdaTablesWriterDeps);
