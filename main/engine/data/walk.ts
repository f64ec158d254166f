import type { Dirent, Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { problem, type DatasetProblem } from '../../../shared/dataset.js';

/** A regular file found under a folder. */
export interface WalkedFile {
  /** Relative to the walk's root folder, `/`-separated. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

export interface WalkOptions {
  /**
   * Descend into symlinked folders. Off by default, as Keras' `follow_links=False`
   * (docs/RELIABILITY.md row 7): a link can point anywhere, `/` included. When on,
   * every folder is entered at most once, so links never loop.
   */
  followDirectoryLinks?: boolean;
  /** Folders deeper than this are reported, not entered. */
  maxDepth?: number;
}

export interface WalkResult {
  files: WalkedFile[];
  problems: DatasetProblem[];
  /** Every entry looked at, hidden and skipped ones included. */
  seen: number;
}

/** Names that operating systems and tools leave in folders; never images. */
const SYSTEM_NAMES = new Set(['thumbs.db', 'desktop.ini', '__macosx', '@eadir', '$recycle.bin', 'system volume information', 'ehthumbs.db']);

export function isHiddenOrSystem(name: string): boolean {
  return name.startsWith('.') || SYSTEM_NAMES.has(name.toLowerCase());
}

function joinRel(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

/**
 * Lists the regular files under `dir` (relative paths from `relBase`),
 * sorted, without following symlinked folders unless asked. Hidden and
 * system files, links that loop or dangle, sockets and devices are reported
 * as problems, never read, never fatal.
 */
export async function walkFiles(dir: string, relBase: string, options: WalkOptions = {}): Promise<WalkResult> {
  const follow = options.followDirectoryLinks === true;
  const maxDepth = options.maxDepth ?? 32;
  const files: WalkedFile[] = [];
  const problems: DatasetProblem[] = [];
  let seen = 0;
  const visited = new Set<string>();
  // Realpaths of the folders on the current path: a link into one of them is a loop.
  const ancestors: string[] = [];

  const visit = async (abs: string, rel: string, depth: number): Promise<void> => {
    let real: string;
    let entries: Dirent[];
    try {
      real = await realpath(abs);
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      problems.push(problem(rel === '' ? '.' : rel, 'unreadable', `cannot read this folder (${errorCode(e)})`));
      return;
    }
    if (visited.has(real)) return;
    visited.add(real);
    ancestors.push(real);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: Array<[string, string]> = [];
    const pending: Array<Promise<void>> = [];
    for (const entry of entries) {
      seen++;
      const childAbs = join(abs, entry.name);
      const childRel = joinRel(rel, entry.name);
      if (isHiddenOrSystem(entry.name)) {
        problems.push(problem(childRel, 'hidden-file', `skipped: hidden or system ${entry.isDirectory() ? 'folder' : 'file'}`));
        continue;
      }
      if (entry.isDirectory()) {
        subdirs.push([childAbs, childRel]);
      } else if (entry.isFile()) {
        pending.push(
          stat(childAbs).then(
            (s) => void files.push({ rel: childRel, abs: childAbs, size: s.size, mtimeMs: s.mtimeMs }),
            (e: unknown) => void problems.push(problem(childRel, 'unreadable', `cannot read this file (${errorCode(e)})`)),
          ),
        );
      } else if (entry.isSymbolicLink()) {
        pending.push(
          classifyLink(childAbs, childRel, ancestors.slice(), follow).then((r) => {
            if (r.kind === 'file') files.push({ rel: childRel, abs: childAbs, size: r.stats.size, mtimeMs: r.stats.mtimeMs });
            else if (r.kind === 'dir') subdirs.push([childAbs, childRel]);
            else problems.push(r.problem);
          }),
        );
      } else {
        problems.push(problem(childRel, 'not-a-file', 'skipped: not a regular file (a pipe, socket or device)'));
      }
      // Bounded fan-out: thousands of files in one folder are stat-ed in slices.
      if (pending.length >= 64) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    subdirs.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    for (const [childAbs, childRel] of subdirs) {
      if (depth + 1 > maxDepth) {
        problems.push(problem(childRel, 'too-deep', `skipped: nested more than ${maxDepth} folders deep`));
        continue;
      }
      await visit(childAbs, childRel, depth + 1);
    }
    ancestors.pop();
  };

  await visit(dir, relBase, 0);
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, problems, seen };
}

type LinkResult = { kind: 'file'; stats: Stats } | { kind: 'dir' } | { kind: 'skip'; problem: DatasetProblem };

/** A symlinked file counts like the file; a symlinked folder is reported unless `follow`, and never entered if it loops. */
async function classifyLink(abs: string, rel: string, ancestors: readonly string[], follow: boolean): Promise<LinkResult> {
  let stats: Stats;
  try {
    stats = await stat(abs);
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ELOOP') return { kind: 'skip', problem: problem(rel, 'symlink-loop', 'skipped: symbolic link loops back on itself') };
    if (code === 'ENOENT') return { kind: 'skip', problem: problem(rel, 'broken-link', 'skipped: symbolic link points to nothing') };
    return { kind: 'skip', problem: problem(rel, 'unreadable', `cannot follow this link (${code})`) };
  }
  if (stats.isFile()) return { kind: 'file', stats };
  if (!stats.isDirectory()) return { kind: 'skip', problem: problem(rel, 'not-a-file', 'skipped: link to something that is not a file') };
  let target: string;
  try {
    target = await realpath(abs);
  } catch (e) {
    return { kind: 'skip', problem: problem(rel, 'unreadable', `cannot follow this link (${errorCode(e)})`) };
  }
  // A link to a folder that contains the link (or to one it is walking through) would loop.
  const parent = ancestors.at(-1) ?? '';
  if (ancestors.includes(target) || parent === target || parent.startsWith(target.endsWith(sep) ? target : target + sep)) {
    return { kind: 'skip', problem: problem(rel, 'symlink-loop', 'skipped: link to a folder that contains it (a loop)') };
  }
  if (!follow) return { kind: 'skip', problem: problem(rel, 'symlink-skipped', 'skipped: links to folders are not followed') };
  return { kind: 'dir' };
}
