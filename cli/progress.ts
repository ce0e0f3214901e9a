// Progress for a nightly run: one redrawn line on a terminal, plain lines otherwise (CI, files).
// Hand-written: a status line with counts is all this needs (cli-progress would add bar layouts).
import type { ScheduleResult } from '../shared/stages/schedule-archive.ts';

export interface Progress {
  listed(result: ScheduleResult): void;
  finished(ok: number, failed: number): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = Boolean(stream.isTTY);
  let enqueued = 0;
  let ok = 0;
  let failed = 0;
  let last = 0;
  const line = () => `archive: ${ok}/${enqueued} done${failed ? `, ${failed} retried or failed` : ''}`;
  const draw = (force = false) => {
    if (tty) {
      stream.write(`\r\x1b[2K${line()}`);
      return;
    }
    const now = Date.now();
    if (force || now - last > 2_000) {
      stream.write(`${line()}\n`);
      last = now;
    }
  };
  return {
    listed(result) {
      enqueued = result.counts.enqueued;
      const c = result.counts;
      const text = `listed ${c.listed} finished conversations: ${c.enqueued} to archive, ${c.alreadyArchived} already archived, ${c.deferredUnanalyzed} waiting for analysis${result.status === 'handed-over' ? ' (continuing)' : ''}`;
      stream.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
      draw(true);
    },
    finished(okNow, failedNow) {
      ok += okNow;
      failed += failedNow;
      draw();
    },
    done() {
      if (tty) stream.write('\n');
      else draw(true);
    },
  };
}
