import { utilityProcess } from 'electron';
import type { Launcher } from '../jobs/host/launcher.js';

/**
 * Jobs in Electron run in utility processes (Chromium's service processes
 * with Node): a native abort there ends that process only. Exit codes only:
 * a crash shows as a non-zero code.
 */
export const utilityLauncher: Launcher = (entry, env) => {
  const child = utilityProcess.fork(entry, [], { env, serviceName: 'Adjoin engine', stdio: 'inherit' });
  return {
    get pid() {
      return child.pid;
    },
    send: (m) => child.postMessage(m),
    onMessage: (h) => child.on('message', h),
    onExit: (h) => child.on('exit', (code) => h(code, null)),
    kill: () => void child.kill(),
  };
};
