// Tokens and signed URLs. Both are HMACs under a per-process secret, so nothing needs storing; token
// expiry and URL expiry are judged by the sim clock.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  org: string;
  sub: string;
  /** Sim time, epoch ms. */
  iat: number;
  exp: number;
  jti: string;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Signer {
  private readonly secret = randomBytes(32);
  private counter = 0;

  private mac(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('base64url');
  }

  /** A JWT-shaped token (HS256 over header.payload). */
  issueToken(
    org: string,
    userId: string,
    nowMs: number,
    ttlMs: number,
  ): { token: string; claims: TokenClaims } {
    const claims: TokenClaims = {
      org,
      sub: userId,
      iat: nowMs,
      exp: nowMs + ttlMs,
      jti: `${++this.counter}`,
    };
    const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    return { token: `${head}.${this.mac(head)}`, claims };
  }

  /** The claims of a genuine token, or why it is not acceptable. */
  verifyToken(
    token: string,
    nowMs: number,
  ): { ok: true; claims: TokenClaims } | { ok: false; reason: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'Malformed token' };
    const [head, payload, mac] = parts as [string, string, string];
    if (!safeEqual(this.mac(`${head}.${payload}`), mac))
      return { ok: false, reason: 'Invalid token signature' };
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { ok: false, reason: 'Malformed token' };
    }
    if (nowMs >= claims.exp) return { ok: false, reason: 'Token has expired' };
    return { ok: true, claims };
  }

  /** Signature of a recording URL: HMAC over the conversation and message ids and the expiry. */
  signAudio(conversationId: string, messageId: string, expires: number): string {
    return createHmac('sha256', this.secret)
      .update(`audio:${conversationId}/${messageId}:${expires}`)
      .digest('hex');
  }

  verifyAudio(conversationId: string, messageId: string, expires: number, signature: string): boolean {
    return safeEqual(this.signAudio(conversationId, messageId, expires), signature);
  }
}

export type Credentials =
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; token: string }
  | { kind: 'none' }
  | { kind: 'malformed' };

/** Reads `Authorization: Bearer <token>` or `Basic base64("{org}_{user}:{token}")`. */
export function readAuthorization(header: string | undefined): Credentials {
  if (!header) return { kind: 'none' };
  const match = /^\s*(\w+)\s+(.+?)\s*$/.exec(header);
  if (!match) return { kind: 'malformed' };
  const scheme = (match[1] as string).toLowerCase();
  const value = match[2] as string;
  if (scheme === 'bearer') return { kind: 'bearer', token: value };
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'malformed' };
    return { kind: 'basic', username: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
  }
  return { kind: 'malformed' };
}
