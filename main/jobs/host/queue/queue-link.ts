import { FlowProducer, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueAddress } from '../../../../shared/queue-url.js';
import { checkQueue, lastingOptions, openRedis, type QueueServer } from '../../queue/connect.js';
import { QUEUE_PREFIX, RUN_QUEUE, WORKER_KEYS } from '../../queue/layout.js';
import { workerAnnouncement, type WorkerAnnouncement } from '../../queue/remote-job.js';
import { RunFiles } from '../../queue/run-files.js';

/**
 * The submitting host's connection to one queue: BullMQ's Queue (to add
 * jobs and read their logs), FlowProducer (a teacher and its kd runs),
 * QueueEvents (to hear of progress, completion and failure as they happen),
 * and a plain connection for the files that travel and the stop requests.
 */
export class QueueLink {
  private constructor(
    readonly address: QueueAddress,
    readonly server: QueueServer,
    readonly queue: Queue,
    readonly flows: FlowProducer,
    readonly events: QueueEvents,
    readonly redis: Redis,
    readonly files: RunFiles,
  ) {}

  /** Connects, failing at once with one clear line if the URL, the server or the password is wrong. */
  static async open(url: string): Promise<QueueLink> {
    const { address, server } = await checkQueue(url);
    const connection = lastingOptions(address);
    const queue = new Queue(RUN_QUEUE, { connection, prefix: QUEUE_PREFIX });
    const flows = new FlowProducer({ connection, prefix: QUEUE_PREFIX });
    const events = new QueueEvents(RUN_QUEUE, { connection, prefix: QUEUE_PREFIX });
    // While Redis restarts the clients reconnect by themselves; their errors must not end the host.
    queue.on('error', () => undefined);
    flows.on('error', () => undefined);
    events.on('error', () => undefined);
    const redis = openRedis(address);
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return new QueueLink(address, server, queue, flows, events, redis, new RunFiles(redis));
  }

  /** The workers that have announced themselves and are alive (their announcement has not lapsed). */
  async workers(): Promise<WorkerAnnouncement[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', WORKER_KEYS, 'COUNT', 100);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    const out: WorkerAnnouncement[] = [];
    for (const [i, v] of values.entries()) {
      if (v === null) continue;
      try {
        out.push(workerAnnouncement(JSON.parse(v), keys[i] ?? 'a worker announcement'));
      } catch {
        // Not an announcement this version understands: not listed.
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.flows.close(), this.queue.close()]);
    this.redis.disconnect();
  }
}
