import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { problem, type DatasetProblem, type SplitPlan } from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import { isHiddenOrSystem, walkFiles, type WalkedFile, type WalkOptions } from './walk.js';

/** An image file with the class (and, for split folders, the split) its folder gives it. */
export interface LabeledFile extends WalkedFile {
  label: number;
  /** True for files under `val/` (or `test/`). */
  inValFolder: boolean;
}

export interface ClassFolder {
  name: string;
  /** Relative folder of the class's training images (null if only the validation folder has it). */
  trainDir: string | null;
  valDir: string | null;
}

/** An image folder: its layout, classes and files, before anything is decoded. */
export interface FolderListing {
  layout: 'class-folders' | 'split-folders';
  /** `folders` when the folder names its validation images; null means a stratified split is needed. */
  folderSplit: Extract<SplitPlan, { kind: 'folders' }> | null;
  classes: ClassFolder[];
  files: LabeledFile[];
  problems: DatasetProblem[];
  seen: number;
}

const TRAIN_NAMES = ['train', 'training'];
const VAL_NAMES = ['val', 'valid', 'validation'];
const TEST_NAMES = ['test', 'testing'];

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Class names are compared and shown in NFC: macOS writes names decomposed (NFD), other systems composed. */
function className(folder: string): string {
  return folder.normalize('NFC');
}

function subfolders(entries: readonly Dirent[]): Dirent[] {
  return entries.filter((e) => e.isDirectory() && !isHiddenOrSystem(e.name));
}

async function entriesOf(abs: string): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(abs, { withFileTypes: true });
  } catch (e) {
    throw new InputError(`cannot read folder ${abs} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, 'data');
  }
  return entries.sort((a, b) => byCodeUnits(a.name, b.name));
}

function findNamed(dirs: readonly Dirent[], names: readonly string[]): Dirent | undefined {
  for (const n of names) {
    const d = dirs.find((e) => e.name.toLowerCase() === n);
    if (d !== undefined) return d;
  }
  return undefined;
}

/** Two folders whose names differ only in Unicode normalisation would be one class: the second is left out, and said so. */
function sameName(dir: string, kept: string): DatasetProblem {
  return problem(dir, 'ignored-folder', `ignored: the same class name as ${kept} (the names differ only in how accents are encoded); merge the two folders`);
}

/** Notes every root entry that is neither a class folder nor hidden (reported by the walk). */
function notesForRoot(entries: readonly Dirent[], used: ReadonlySet<string>, what: string): DatasetProblem[] {
  const out: DatasetProblem[] = [];
  for (const e of entries) {
    if (used.has(e.name) || isHiddenOrSystem(e.name)) continue;
    if (e.isDirectory()) out.push(problem(e.name, 'ignored-folder', `ignored: ${what}`));
    else if (e.isSymbolicLink()) out.push(problem(e.name, 'symlink-skipped', 'skipped: links at the top level are not followed'));
    else out.push(problem(e.name, 'outside-class', 'ignored: not inside a class folder'));
  }
  return out;
}

/** What the class folders are, under train/ and val/ (or test/) or directly under the root. */
interface ClassLayout {
  classes: Map<string, ClassFolder>;
  folderSplit: FolderListing['folderSplit'];
  /** Entries read below the root (in the split folders). */
  entries: number;
}

/** Class folders inside train/ and its validation split, each side's stray entries noted. */
async function splitClassFolders(
  root: string,
  rootEntries: readonly Dirent[],
  dirs: readonly Dirent[],
  trainDir: Dirent,
  problems: DatasetProblem[],
): Promise<ClassLayout> {
  const valDir = findNamed(dirs, VAL_NAMES);
  const testDir = findNamed(dirs, TEST_NAMES);
  const heldOut = valDir ?? testDir;
  const used = new Set([trainDir.name, ...(heldOut ? [heldOut.name] : [])]);
  for (const p of notesForRoot(rootEntries, used, valDir && testDir ? `${valDir.name}/ is the validation split` : 'not a split folder')) problems.push(p);
  const sides = [{ dir: trainDir.name, isVal: false }, ...(heldOut === undefined ? [] : [{ dir: heldOut.name, isVal: true }])];
  const classes = new Map<string, ClassFolder>();
  let entriesRead = 0;
  for (const side of sides) {
    const entries = await entriesOf(join(root, side.dir));
    entriesRead += entries.length;
    for (const p of notesForRoot(entries, new Set(subfolders(entries).map((d) => d.name)), 'not a class folder'))
      problems.push({ ...p, file: `${side.dir}/${p.file}` });
    for (const e of entries) if (isHiddenOrSystem(e.name)) problems.push(problem(`${side.dir}/${e.name}`, 'hidden-file', 'skipped: hidden or system file'));
    for (const d of subfolders(entries)) {
      const name = className(d.name);
      const c = classes.get(name) ?? { name, trainDir: null, valDir: null };
      const dir = `${side.dir}/${d.name}`;
      const taken = side.isVal ? c.valDir : c.trainDir;
      if (taken !== null) {
        problems.push(sameName(dir, taken));
        continue;
      }
      if (side.isVal) c.valDir = dir;
      else c.trainDir = dir;
      classes.set(name, c);
    }
  }
  const folderSplit: FolderListing['folderSplit'] = heldOut === undefined ? null : { kind: 'folders', train: trainDir.name, val: heldOut.name };
  return { classes, folderSplit, entries: entriesRead };
}

/** One class per subfolder of the root. */
function rootClassFolders(rootEntries: readonly Dirent[], dirs: readonly Dirent[], problems: DatasetProblem[]): ClassLayout {
  for (const p of notesForRoot(rootEntries, new Set(dirs.map((d) => d.name)), 'not a class folder')) problems.push(p);
  const classes = new Map<string, ClassFolder>();
  for (const d of dirs) {
    const name = className(d.name);
    const taken = classes.get(name);
    if (taken !== undefined) problems.push(sameName(d.name, taken.trainDir!));
    else classes.set(name, { name, trainDir: d.name, valDir: null });
  }
  return { classes, folderSplit: null, entries: 0 };
}

/**
 * Reads an image folder's layout (docs/RELIABILITY.md row 20 names its failures):
 * `train/` + `val/` (or `test/`) with class subfolders, or one subfolder
 * per class. Nested files count for the class folder they are in. Returns
 * null when the folder has no subfolders at all.
 */
export async function listImageFolder(root: string, options: WalkOptions = {}): Promise<FolderListing | null> {
  const rootEntries = await entriesOf(root);
  const dirs = subfolders(rootEntries);
  if (dirs.length === 0) return null;
  const problems: DatasetProblem[] = [];
  for (const e of rootEntries) if (isHiddenOrSystem(e.name)) problems.push(problem(e.name, 'hidden-file', 'skipped: hidden or system file'));

  const splitNames = new Set([...TRAIN_NAMES, ...VAL_NAMES, ...TEST_NAMES]);
  // Split folders when train/ is there and every other folder is a split too
  // (a dataset whose classes happen to include "train" stays class folders).
  const trainDir = findNamed(dirs, TRAIN_NAMES);
  const isSplit = trainDir !== undefined && dirs.every((d) => splitNames.has(d.name.toLowerCase()));
  const layout = isSplit ? await splitClassFolders(root, rootEntries, dirs, trainDir, problems) : rootClassFolders(rootEntries, dirs, problems);

  const ordered = [...layout.classes.values()].sort((a, b) => byCodeUnits(a.name, b.name));
  const files: LabeledFile[] = [];
  let seen = rootEntries.length + layout.entries;
  for (const [label, c] of ordered.entries()) {
    for (const [dir, inValFolder] of [
      [c.trainDir, false],
      [c.valDir, true],
    ] as const) {
      if (dir === null) continue;
      const walked = await walkFiles(join(root, dir), dir, options);
      seen += walked.seen;
      // One loop, no spread: a folder may hold hundreds of thousands of files (and problems).
      for (const p of walked.problems) problems.push(p);
      for (const f of walked.files) files.push(Object.assign(f, { label, inValFolder }));
    }
  }
  return {
    layout: isSplit ? 'split-folders' : 'class-folders',
    folderSplit: layout.folderSplit,
    classes: ordered,
    files,
    problems,
    seen,
  };
}

/** The folder a class is shown under: its training folder, else its validation folder. */
export function classFolderOf(c: ClassFolder): string {
  return c.trainDir ?? c.valDir ?? c.name;
}
