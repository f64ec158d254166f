/**
 * The browser shell's access token: `adjoin serve` prints
 * `http://127.0.0.1:PORT/#token=TOKEN`. The fragment never reaches the
 * server in a request; the page takes it out of the address bar (so it is
 * not bookmarked or shared by accident) and keeps it for this tab.
 */

export const TOKEN_KEY = 'adjoin.token';

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
  storage: Pick<Storage, 'getItem' | 'setItem'> | null;
}

/** Takes the token from the address bar (removing it there), else from this tab's session storage. */
export function takeToken(place: TokenPlace): string | null {
  const fromHash = tokenFromHash(place.location.hash);
  if (fromHash !== null) {
    place.storage?.setItem(TOKEN_KEY, fromHash);
    place.history.replaceState(null, '', `${place.location.pathname}${place.location.search}${hashWithoutToken(place.location.hash)}`);
    return fromHash;
  }
  return place.storage?.getItem(TOKEN_KEY) ?? null;
}

export function forgetToken(storage: Pick<Storage, 'removeItem'> | null): void {
  storage?.removeItem(TOKEN_KEY);
}
