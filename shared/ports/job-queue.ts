// The job queue port: the scheduler sends jobs, workers receive them as SQS events. In AWS and in
// the local runner (fauxqs) this is SQS; tests of stages may use any implementation.

export interface Job<T> {
  /** Stable id derived from the work (e.g. `archive-<conversationId>`): duplicates are recognisable. */
  readonly id: string;
  readonly body: T;
  /** Seconds before the job becomes visible. @default 0 */
  readonly delaySeconds?: number;
}

export interface JobQueue<T> {
  /** Sends jobs (any number; batched by 10 on the wire). Resolves with the jobs that could not be sent. */
  send(jobs: readonly Job<T>[]): Promise<{ failed: Array<{ id: string; reason: string }> }>;
}
