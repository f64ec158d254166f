import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { InputError } from '../../../shared/errors.js';
import { parseQueueUrl, type QueueAddress } from '../../../shared/queue-url.js';

/** Redis connection settings for a queue address (BullMQ's and ioredis's). */
export function redisOptions(a: QueueAddress): RedisOptions {
  return {
    host: a.host,
    port: a.port,
    db: a.db,
    ...(a.username === null ? {} : { username: a.username }),
    ...(a.password === null ? {} : { password: a.password }),
    // Node checks the server's certificate against its CAs (NODE_EXTRA_CA_CERTS adds a private one).
    ...(a.tls ? { tls: { servername: a.host } } : {}),
  };
}

/**
 * Settings of the long-lived connections: a command waits while Redis
 * restarts instead of failing (BullMQ requires this of its blocking
 * connections), and reconnects back off to one try a second.
 */
export function lastingOptions(a: QueueAddress): RedisOptions {
  return { ...redisOptions(a), maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 100, 1_000) };
}

/** What a first connection found out about the server. */
export interface QueueServer {
  version: string;
  /** Whether Redis keeps an append-only file (null: the server does not say, as managed services often do not). */
  appendOnly: boolean | null;
}

/** One line for an error Redis or the network gave while connecting, naming the queue but not its password. */
export function connectionProblem(a: QueueAddress, e: Error): string {
  const message = e.message;
  const code = (e as Error & { code?: unknown }).code;
  if (/WRONGPASS/.test(message)) return `${a.shown} refused the user name or password (WRONGPASS): check the password in the queue URL`;
  if (/NOAUTH/.test(message)) return `${a.shown} needs a password: put it in the queue URL, redis://:PASSWORD@${a.host}:${a.port}`;
  if (/without any password configured/i.test(message)) return `${a.shown} has no password, but the queue URL gives one`;
  if (code === 'ECONNREFUSED') return `nothing is listening at ${a.host}:${a.port} (is redis-server running there?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot find the queue's host ${a.host}`;
  if (code === 'ETIMEDOUT') return `${a.shown} did not answer in time${a.tls ? ' (does it speak TLS? rediss:// needs a TLS port)' : ''}`;
  return `cannot use the queue at ${a.shown}: ${message}`;
}

/**
 * Connects once, strictly (no retries), so a wrong password or a server
 * that is not there is one clear error — an InputError naming the queue —
 * instead of a client reconnecting forever.
 */
export async function checkQueue(url: string, timeoutMs = 10_000): Promise<{ address: QueueAddress; server: QueueServer }> {
  const address = parseQueueUrl(url);
  const client = new Redis({
    ...redisOptions(address),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with "Connection is closed."; the reason is the last error it emitted.
  let last: Error | null = null;
  client.on('error', (e: Error) => (last = e));
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
    let appendOnly: boolean | null = null;
    try {
      const reply = (await client.config('GET', 'appendonly')) as string[];
      if (reply.length === 2) appendOnly = reply[1] === 'yes';
    } catch {
      // CONFIG is often disabled on managed servers.
    }
    return { address, server: { version, appendOnly } };
  } catch (e) {
    throw new InputError(connectionProblem(address, last ?? (e as Error)), 'queue');
  } finally {
    client.disconnect();
  }
}

/** A connection for Adjoin's own keys (files, stop requests, announcements), after `checkQueue`. */
export function openRedis(a: QueueAddress): Redis {
  const client = new Redis(lastingOptions(a));
  // Errors while Redis restarts are retried by the client; an unhandled 'error' event would end the process.
  client.on('error', () => undefined);
  return client;
}
