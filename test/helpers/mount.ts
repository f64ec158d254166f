import { spawnSync } from 'node:child_process';

/**
 * Mounts a tmpfs at `dir` with the given options (`ro`, `size=16k`) when this
 * process may (root with CAP_SYS_ADMIN); false otherwise. Only tests use it,
 * to get a really read-only or really full file system.
 */
export function tryMountTmpfs(dir: string, options: string): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir], { stdio: 'ignore' });
}

/** chmod does not stop root from writing. */
export const isRoot = (): boolean => process.getuid?.() === 0;
