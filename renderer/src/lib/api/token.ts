/**
 * The browser shell's link: `adjoin serve` prints
 * `http://127.0.0.1:PORT/#token=TOKEN`. The fragment never reaches the
 * server in a request; the page takes it out of the address bar and trades
 * it once for a session of its own (see session.ts). The token is then used
 * up, so the copy browsers keep in their history admits nobody; it is never
 * stored by the page.
 */

/** The token in a location hash such as `#token=abc` (other fragment keys are kept apart). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const token = params.get('token');
  return token !== null && token !== '' ? token : null;
}

/** The hash without its token, so the rest of the fragment (if any) survives. */
export function hashWithoutToken(hash: string): string {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  params.delete('token');
  const rest = params.toString();
  return rest === '' ? '' : `#${rest}`;
}

export interface TokenPlace {
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  history: Pick<History, 'replaceState'>;
}

/** Takes the token from the address bar, removing it there; null when the address has none (a reload). */
export function takeToken(place: TokenPlace): string | null {
  const token = tokenFromHash(place.location.hash);
  if (token !== null) place.history.replaceState(null, '', `${place.location.pathname}${place.location.search}${hashWithoutToken(place.location.hash)}`);
  return token;
}
