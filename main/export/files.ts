import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';

/** One file of an export: a model file, its weights, labels.txt or metadata.json. */
export interface ExportFile {
  name: string;
  data: Uint8Array;
}

/** The file operations an export needs; tests pass one that fails like a full disk. */
export interface ExportFs {
  mkdir(dir: string): void;
  /** Writes and fsyncs a whole file. */
  write(path: string, data: Uint8Array): void;
  rename(from: string, to: string): void;
  remove(path: string): void;
}

export const nodeFs: ExportFs = {
  // One level at a time: a recursive mkdir reports ENOENT for a read-only
  // file system, where this gives EROFS (or EACCES, ENOTDIR) to explain.
  mkdir(dir) {
    const missing: string[] = [];
    for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
      missing.unshift(d);
      if (dirname(d) === d) break;
    }
    for (const m of missing) mkdirSync(m);
  },
  write(path, data) {
    const fd = openSync(path, 'w');
    try {
      let at = 0;
      while (at < data.byteLength) at += writeSync(fd, data, at, data.byteLength - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  rename: renameSync,
  remove: (path) => rmSync(path, { force: true }),
};

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOSPC':
      return 'the disk is full (ENOSPC)';
    case 'EDQUOT':
      return 'the disk quota is used up (EDQUOT)';
    case 'EROFS':
      return 'it is on a read-only file system (EROFS)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'ENOTDIR':
      return 'part of the path is a file, not a folder (ENOTDIR)';
    default:
      return (e as Error).message;
  }
}

/**
 * Writes the files into `dir` so that either all of them land or none of the
 * new ones does: each goes to a temporary name first (written and fsynced),
 * and only when every one is on disk are they renamed into place. A folder
 * that cannot be written — read-only, full, not a folder — gives an
 * InputError naming it and the cause, and the temporaries are removed.
 */
export function writeExportFiles(dir: string, files: readonly ExportFile[], fs: ExportFs = nodeFs): string[] {
  const fail = (e: unknown): never => {
    throw new InputError(`cannot write the export to ${dir}: ${reason(e)}`, 'out');
  };
  try {
    fs.mkdir(dir);
  } catch (e) {
    fail(e);
  }
  const temps: string[] = [];
  const tag = `.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    for (const f of files) {
      const tmp = join(dir, `.${f.name}${tag}`);
      temps.push(tmp);
      fs.write(tmp, f.data);
    }
    files.forEach((f, i) => fs.rename(temps[i]!, join(dir, f.name)));
  } catch (e) {
    for (const t of temps) {
      try {
        fs.remove(t);
      } catch {
        // Best effort: the folder may refuse even that.
      }
    }
    fail(e);
  }
  return files.map((f) => join(dir, f.name));
}
