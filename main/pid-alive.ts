import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid exists on this host and has not died. A
 * killed process whose parent has not collected it (a zombie: in a container
 * whose init does not reap, a killed job process stays one) still answers
 * signal 0 on Linux; its /proc state is Z. Elsewhere there is no such file.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
