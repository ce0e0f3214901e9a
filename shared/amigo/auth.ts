// The bearer token: signed in once, shared by every call, renewed shortly before `expires_at`,
// and renewed by a single sign-in however many calls need it at the same moment (sign-in is limited
// to 5 calls a minute, so a sign-in per request would throttle the whole pipeline).
import { registerSecret } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';

export interface IssuedToken {
  readonly token: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

export class TokenCache {
  private current: (IssuedToken & { renewAt: number }) | undefined;
  private pending: Promise<IssuedToken> | undefined;
  private readonly signIn: () => Promise<IssuedToken>;
  private readonly clock: Clock;
  private readonly skewMs: number;

  constructor(signIn: () => Promise<IssuedToken>, clock: Clock, skewMs: number) {
    this.signIn = signIn;
    this.clock = clock;
    this.skewMs = skewMs;
  }

  /** A token valid for a while yet; signs in (once, for all concurrent callers) when needed. */
  async token(): Promise<string> {
    const now = this.clock.now();
    if (this.current && now < this.current.renewAt) return this.current.token;
    this.pending ??= this.renew().finally(() => {
      this.pending = undefined;
    });
    return (await this.pending).token;
  }

  /** Forgets `token` after the server refused it, unless a newer token already replaced it. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }

  get signedIn(): boolean {
    return this.current !== undefined;
  }

  private async renew(): Promise<IssuedToken> {
    const issuedAt = this.clock.now();
    const issued = await this.signIn();
    registerSecret(issued.token);
    // Renew a little before expiry: the configured skew, but never more than a tenth of the
    // token's lifetime, so short-lived tokens are still used.
    const lifetime = Math.max(0, issued.expiresAt - issuedAt);
    this.current = { ...issued, renewAt: issued.expiresAt - Math.min(this.skewMs, lifetime / 10) };
    return issued;
  }
}
