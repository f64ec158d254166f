/**
 * The page's session with `adjoin serve`: the link's one-time token is
 * traded for a secret that lives only in this tab's memory (never in
 * storage, which browsers write to disk for session restore). A reload
 * forgets it; `adjoin serve` prints a fresh link each time one is used.
 */

/** The headers the server reads (main/server/server.ts). */
export const TOKEN_HEADER = 'X-Adjoin-Token';
export const SESSION_HEADER = 'X-Adjoin-Session';

/** The part of `fetch` the session needs (a fake one in tests). */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string> }) => Promise<{ status: number; json(): Promise<unknown> }>;

/** Trades the link's token for a session secret; null when there is no token or the server refuses it (already used, or forged). */
export async function tradeToken(token: string | null, fetchFn: FetchLike): Promise<string | null> {
  if (token === null) return null;
  const res = await fetchFn('/session', { method: 'POST', headers: { [TOKEN_HEADER]: token } });
  if (res.status !== 200) return null;
  const body = await res.json();
  const secret = typeof body === 'object' && body !== null ? (body as { session?: unknown }).session : undefined;
  return typeof secret === 'string' && secret !== '' ? secret : null;
}

/**
 * Whether the server still knows this session: true or false from its
 * answer, null when it cannot be reached (it is down, or restarting).
 */
export async function sessionHolds(secret: string, fetchFn: FetchLike): Promise<boolean | null> {
  try {
    const res = await fetchFn('/session', { method: 'GET', headers: { [SESSION_HEADER]: secret } });
    if (res.status === 204) return true;
    if (res.status === 401) return false;
    return null;
  } catch {
    return null;
  }
}
