import { randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh secret: 24 random bytes, URL-safe. */
export function randomSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Who may use the browser shell's API. The link `adjoin serve` prints
 * carries a one-time token; a page trades it for a session secret of its
 * own (kept in the tab's memory), and the token is used up at once. Browsers
 * keep the link in their history and session files, so a copy read from
 * there later admits nobody. Each trade mints the next token, for another
 * tab or a reload.
 */
export class ServerAccess {
  private current: string;
  private readonly sessions = new Set<string>();

  constructor(
    first: string = randomSecret(),
    private readonly mint: () => string = randomSecret,
  ) {
    this.current = first;
  }

  /** The one-time token the next link carries. */
  get token(): string {
    return this.current;
  }

  /** A session secret for `token` if it is the current one (which is then used up), else null. */
  exchange(token: string): string | null {
    if (!sameSecret(token, this.current)) return null;
    this.current = this.mint();
    const session = this.mint();
    this.sessions.add(session);
    return session;
  }

  /** Whether `session` came from an exchange on this server. */
  admits(session: string): boolean {
    for (const s of this.sessions) if (sameSecret(session, s)) return true;
    return false;
  }
}
