/** Where a job that cannot succeed goes, with its reason, so nothing is lost and an operator can act. */
export interface DeadLetters {
  send(body: string, reason: { code: string; message: string; jobId?: string }): Promise<void>;
}
