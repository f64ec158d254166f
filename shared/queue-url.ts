import { InputError } from './errors.js';

/**
 * A run queue is a Redis server named by a URL:
 * `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS.
 * Parsed here (no Node or DOM URL class) so the app's "Run on" field and the
 * CLI's `--queue` check it the same way.
 */
export interface QueueAddress {
  /** The URL as given, password included: what is needed to connect again. */
  url: string;
  /** The URL without its password: what messages, the history and the app show. */
  shown: string;
  tls: boolean;
  host: string;
  port: number;
  db: number;
  username: string | null;
  password: string | null;
}

export const DEFAULT_REDIS_PORT = 6379;

const URL_PATTERN = /^(rediss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[0-9a-fA-F:.]+\]|[^:@/?#[\]]+)(?::([0-9]{1,5}))?(?:\/([0-9]*))?$/;

function decodePart(part: string | undefined, what: string, field: string): string | null {
  if (part === undefined || part === '') return null;
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InputError(`the queue URL's ${what} is not valid percent-encoding`, field);
  }
}

/** Checks a queue URL; the error names what is wrong, never the password. */
export function parseQueueUrl(text: string, field = 'queue'): QueueAddress {
  const url = text.trim();
  const m = URL_PATTERN.exec(url);
  if (m === null) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
    if (scheme !== undefined && scheme !== 'redis' && scheme !== 'rediss') {
      throw new InputError(`a queue is a redis:// or rediss:// URL, not ${scheme}://`, field);
    }
    throw new InputError(`a queue is a URL like redis://[user:password@]host[:port][/db] (rediss:// for TLS), got '${redactQueueUrl(url)}'`, field);
  }
  const [, scheme, user, pass, rawHost, rawPort, rawDb] = m;
  const port = rawPort === undefined ? DEFAULT_REDIS_PORT : Number(rawPort);
  if (port < 1 || port > 65535) throw new InputError(`the queue URL's port must be from 1 to 65535, got ${port}`, field);
  const db = rawDb === undefined || rawDb === '' ? 0 : Number(rawDb);
  if (!Number.isSafeInteger(db) || db > 65535) throw new InputError(`the queue URL's database number is out of range: ${rawDb}`, field);
  const host = rawHost!.startsWith('[') ? rawHost!.slice(1, -1) : rawHost!;
  const username = decodePart(user, 'user name', field);
  const password = decodePart(pass, 'password', field);
  return { url, shown: redactQueueUrl(url), tls: scheme === 'rediss', host, port, db, username, password };
}

/** The URL with its password replaced by `***`; anything unparsable keeps only its scheme and host part. */
export function redactQueueUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_all, scheme: string, credentials: string) => {
    const colon = credentials.indexOf(':');
    return colon < 0 ? `${scheme}${credentials}@` : `${scheme}${credentials.slice(0, colon)}:***@`;
  });
}
