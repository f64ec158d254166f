import { describe, expect, it } from 'vitest';
import { hashWithoutToken, takeToken, TOKEN_KEY, tokenFromHash } from '../../renderer/src/lib/api/token.js';

function memoryStorage(): Pick<Storage, 'getItem' | 'setItem'> & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

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
  it('is taken out of the address bar and kept for the tab', () => {
    const storage = memoryStorage();
    const replaced: string[] = [];
    const place = {
      location: { hash: '#token=s3cret', pathname: '/', search: '' },
      history: { replaceState: (_d: unknown, _t: string, url?: string | URL | null) => void replaced.push(String(url)) },
      storage,
    };
    expect(takeToken(place)).toBe('s3cret');
    expect(replaced).toEqual(['/']);
    expect(storage.data.get(TOKEN_KEY)).toBe('s3cret');
    // A reload no longer has it in the address bar: the tab's storage still does.
    expect(takeToken({ ...place, location: { hash: '', pathname: '/', search: '' } })).toBe('s3cret');
  });
  it('is absent when neither place has it', () => {
    expect(takeToken({ location: { hash: '', pathname: '/', search: '' }, history: { replaceState: () => undefined }, storage: null })).toBeNull();
  });
});
