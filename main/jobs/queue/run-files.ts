import type { Redis } from 'ioredis';
import { InputError } from '../../../shared/errors.js';
import { filesKey } from './layout.js';

/**
 * A path inside a run's folder, as files travel under it: relative, with
 * `/` separators, no `..`, nothing absolute. Checked on both sides, so a
 * worker (or anyone who can write to the queue) cannot make the submitter
 * write outside the run's folder.
 */
export function checkRunPath(path: string, where: string): string {
  const parts = path.split('/');
  const bad =
    path === '' ||
    path.length > 1_000 ||
    path.includes('\\') ||
    path.includes('\0') ||
    path.startsWith('/') ||
    /^[a-zA-Z]:/.test(path) ||
    parts.some((p) => p === '' || p === '.' || p === '..');
  if (bad) throw new InputError(`${where}: '${path.slice(0, 80)}' is not a path inside a run's folder`, 'queue');
  return path;
}

/**
 * The files of one run job that travel through Redis: a hash under
 * `adjoin:files:<job id>`, one field per file (its path in the run's folder).
 * Checkpoints replace the previous one each epoch; the outputs are added
 * when the run finishes; a kd run's teacher network is put there before it
 * starts. The submitter deletes the hash once it has stored the files.
 */
export class RunFiles {
  constructor(private readonly redis: Redis) {}

  async put(jobId: string, path: string, data: Buffer): Promise<void> {
    await this.redis.hset(filesKey(jobId), checkRunPath(path, `job ${jobId}`), data);
  }

  async get(jobId: string, path: string): Promise<Buffer | null> {
    return this.redis.hgetBuffer(filesKey(jobId), checkRunPath(path, `job ${jobId}`));
  }

  /** The paths of the job's files (each checked: a bad name stops the caller). */
  async list(jobId: string): Promise<string[]> {
    const names = await this.redis.hkeys(filesKey(jobId));
    return names.map((n) => checkRunPath(n, `job ${jobId}`));
  }

  async drop(jobId: string): Promise<void> {
    await this.redis.del(filesKey(jobId));
  }
}
