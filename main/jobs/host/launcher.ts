import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What the host needs of a job's process, whichever API started it. */
export interface JobChild {
  readonly pid: number | undefined;
  send(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** `code` or `signal` of the exit; exactly one is non-null. */
  onExit(handler: (code: number | null, signal: string | null) => void): void;
  kill(): void;
}

/** Starts `entry` (a compiled .js module) as a job process. */
export type Launcher = (entry: string, env: NodeJS.ProcessEnv) => JobChild;

/** The compiled job-process module: next to this file when compiled, under build/ when run from sources (tests). */
export function jobProcessEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const candidates = here.endsWith('.ts')
    ? [fileURLToPath(new URL('../../../build/main/jobs/worker/job-process.js', import.meta.url))]
    : [fileURLToPath(new URL('../worker/job-process.js', import.meta.url))];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`the job process module is missing (${candidates.join(', ')}); run npm run build`);
  return found;
}

/** child_process.fork, for the browser shell and the CLI. */
export const forkLauncher: Launcher = (entry, env) => {
  const child = fork(entry, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  // A message to a process that is just exiting fails with EPIPE; its exit is
  // reported by onExit, so the failed send itself must not crash the host.
  child.on('error', () => undefined);
  return {
    pid: child.pid,
    send: (m) => {
      if (child.connected) child.send(m as never, (error) => void error);
    },
    onMessage: (h) => child.on('message', h),
    onExit: (h) => child.on('exit', (code, signal) => h(code, signal)),
    kill: () => child.kill('SIGKILL'),
  };
};
