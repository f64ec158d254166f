import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_NAMES, runJobOptions, stopKey } from '../queue/layout.js';
import { releaseJob, runJobResult } from '../queue/remote-job.js';

/**
 * A flow's parent: BullMQ runs it once its child — a standard run that
 * teaches kd runs — has completed. If that run finished, its kd runs go on
 * the queue (their teacher's network is already with them: its worker put it
 * there); if it was cancelled, they do not. A teacher that failed for good
 * fails this job too (`failParentOnFailure`), and its kd runs never start.
 */
export async function processRelease(job: Job, queue: Queue, redis: Redis): Promise<{ released: string[] }> {
  const data = releaseJob(job.data, `job ${job.id ?? '?'}`);
  const children = Object.values(await job.getChildrenValues());
  const results = children.map((v, i) => runJobResult(v, `job ${job.id ?? '?'} child ${i}`));
  const [teacher] = results;
  if (results.length !== 1 || teacher?.status !== 'finished') {
    throw new UnrecoverableError(`the teacher (job ${data.teacher}) did not finish, so its kd runs were not started`);
  }
  const students = [];
  for (const s of data.students) if ((await redis.exists(stopKey(s.jobId))) === 0) students.push(s);
  await queue.addBulk(students.map((s) => ({ name: JOB_NAMES.run, data: s.data, opts: runJobOptions(s.jobId) })));
  return { released: students.map((s) => s.jobId) };
}
