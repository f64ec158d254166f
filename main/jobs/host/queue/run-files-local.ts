import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '../../../../shared/errors.js';
import { checkRunPath } from '../../queue/run-files.js';

/**
 * Where a file that travelled lands in the run's folder on this machine,
 * checked so that no name from the queue points outside it.
 */
export function localRunFile(outDir: string, path: string): string {
  return join(outDir, ...checkRunPath(path, `a file of the run in ${outDir}`).split('/'));
}

/**
 * A path from a worker's event, made relative to its run folder there: the
 * worker may run another operating system, so both separators are accepted.
 */
export function workerRelative(workerDir: string | null, path: string): string {
  if (workerDir === null) throw new InputError(`the worker named ${path} before saying where its run folder is`, 'queue');
  const dir = workerDir.replace(/[\\/]+$/, '');
  if (!path.startsWith(dir) || !/^[\\/]/.test(path.slice(dir.length))) {
    throw new InputError(`the worker named ${path}, outside its run folder ${dir}`, 'queue');
  }
  return checkRunPath(
    path
      .slice(dir.length)
      .replace(/^[\\/]+/, '')
      .split(/[\\/]+/)
      .join('/'),
    'a worker path',
  );
}

/**
 * Writes a file that travelled into the run's folder as the engine writes
 * its own: to a temporary name, flushed, then renamed over the old one (a
 * checkpoint keeps its predecessor as `.prev`, which the engine falls back
 * to). A crash midway leaves the old file whole.
 */
export function writeRunFile(file: string, data: Buffer, keepPrevious: boolean): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (keepPrevious && existsSync(file)) renameSync(file, `${file}.prev`);
  renameSync(tmp, file);
}

/** The files a resumed run needs to go on from where it stopped: its checkpoints and a search's answer. */
export function resumeFiles(outDir: string, prefix = ''): string[] {
  const dir = prefix === '' ? outDir : join(outDir, ...prefix.split('/'));
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...resumeFiles(outDir, rel));
    else if (entry.isFile() && (entry.name.endsWith('.ckpt') || entry.name === 'search.json')) out.push(rel);
  }
  return out;
}
