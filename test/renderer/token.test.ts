import { describe, expect, it } from 'vitest';
import { sessionHolds, SESSION_HEADER, TOKEN_HEADER, tradeToken, type FetchLike } from '../../renderer/src/lib/api/session.js';
import { hashWithoutToken, takeToken, tokenFromHash } from '../../renderer/src/lib/api/token.js';

describe('the browser shell token', () => {
  it('is read from the fragment', () => {
    expect(tokenFromHash('#token=abc_-1')).toBe('abc_-1');
    expect(tokenFromHash('token=abc')).toBe('abc');
    expect(tokenFromHash('#other=1&token=xyz')).toBe('xyz');
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });
  it('leaves the rest of the fragment', () => {
    expect(hashWithoutToken('#token=abc')).toBe('');
    expect(hashWithoutToken('#a=1&token=abc')).toBe('#a=1');
  });
  it('is taken out of the address bar and kept nowhere: a reload has none', () => {
    const replaced: string[] = [];
    const place = {
      location: { hash: '#token=s3cret', pathname: '/', search: '' },
      history: { replaceState: (_d: unknown, _t: string, url?: string | URL | null) => void replaced.push(String(url)) },
    };
    expect(takeToken(place)).toBe('s3cret');
    expect(replaced).toEqual(['/']);
    expect(takeToken({ ...place, location: { hash: '', pathname: '/', search: '' } })).toBeNull();
    expect(replaced).toEqual(['/']);
  });
});

/** A server that admits one trade of `token`, as adjoin serve does. */
function fakeServer(token: string): { fetch: FetchLike; requests: Array<{ method: string; headers: Record<string, string> }> } {
  let unused = true;
  const sessions = new Set<string>();
  const requests: Array<{ method: string; headers: Record<string, string> }> = [];
  const fetch: FetchLike = async (_url, init) => {
    requests.push(init);
    if (init.method === 'POST') {
      if (!unused || init.headers[TOKEN_HEADER] !== token) return { status: 401, json: async () => null };
      unused = false;
      sessions.add('tab-secret');
      return { status: 200, json: async () => ({ session: 'tab-secret' }) };
    }
    return { status: sessions.has(init.headers[SESSION_HEADER] ?? '') ? 204 : 401, json: async () => null };
  };
  return { fetch, requests };
}

describe('the page’s session', () => {
  it('is traded once for the link’s token; a second trade (the link from the browser’s history) is refused', async () => {
    const server = fakeServer('one-time');
    expect(await tradeToken('one-time', server.fetch)).toBe('tab-secret');
    expect(await tradeToken('one-time', server.fetch)).toBeNull();
    expect(await tradeToken(null, server.fetch)).toBeNull();
    expect(server.requests).toHaveLength(2);
  });
  it('says whether the server still admits it, or that it cannot tell', async () => {
    const server = fakeServer('t');
    await tradeToken('t', server.fetch);
    expect(await sessionHolds('tab-secret', server.fetch)).toBe(true);
    expect(await sessionHolds('forged', server.fetch)).toBe(false);
    expect(await sessionHolds('tab-secret', () => Promise.reject(new TypeError('Failed to fetch')))).toBeNull();
  });
});
