import { InputError } from './errors.js';

/**
 * Datasets as the user sees them: what a scan of a dropped folder found, the
 * settings an import uses, and what an import produced. Shown by the UI
 * (class bar chart, thumbnails, warnings) and printed by `adjoin data scan`.
 */

export const DATASET_LAYOUTS = ['class-folders', 'split-folders', 'idx', 'cifar-10', 'cifar-100'] as const;
/**
 * `class-folders`: one subfolder per class (the ImageFolder convention).
 * `split-folders`: `train/` and `val/` (or `test/`), each with class subfolders.
 * `idx`: MNIST / Fashion-MNIST files. `cifar-10`, `cifar-100`: the CIFAR binary batches.
 */
export type DatasetLayout = (typeof DATASET_LAYOUTS)[number];

/** Formats the importer decodes (sniffed from the bytes, never taken from the extension). */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export type Severity = 'info' | 'warning' | 'error';

/**
 * Every kind of problem a scan or an import reports, with its severity:
 * `info` is noted, `warning` means a file is skipped or a class is weak,
 * `error` means the dataset cannot be used as it is.
 */
export const PROBLEM_SEVERITY = {
  'hidden-file': 'info',
  'outside-class': 'info',
  'ignored-folder': 'info',
  'symlink-skipped': 'info',
  animated: 'info',
  'zero-byte': 'warning',
  'not-an-image': 'warning',
  'unsupported-format': 'warning',
  unreadable: 'warning',
  truncated: 'warning',
  'too-large': 'warning',
  'symlink-loop': 'warning',
  'broken-link': 'warning',
  'not-a-file': 'warning',
  'too-deep': 'warning',
  'single-image-class': 'warning',
  'tiny-class': 'warning',
  'no-validation-images': 'warning',
  'no-classes': 'error',
  'single-class': 'error',
  'empty-class': 'error',
  'no-training-images': 'error',
  'empty-validation': 'error',
  'too-big-to-load': 'error',
} as const satisfies Record<string, Severity>;
export type ProblemKind = keyof typeof PROBLEM_SEVERITY;

export interface DatasetProblem {
  /** Path relative to the dataset folder, `/`-separated; `.` for the folder itself. */
  file: string;
  kind: ProblemKind;
  severity: Severity;
  message: string;
}

export function problem(file: string, kind: ProblemKind, message: string): DatasetProblem {
  return { file, kind, severity: PROBLEM_SEVERITY[kind], message };
}

/** Where the validation images come from. */
export type SplitPlan =
  /** Folders named by the user: `train/` and `val/` (or `test/`). */
  | { kind: 'folders'; train: string; val: string }
  /** A stratified, seeded share of each class, fixed by the seed and the file names. */
  | { kind: 'stratified'; fraction: number; seed: number }
  /** The format's own test files (IDX t10k, CIFAR test batch). */
  | { kind: 'files' };

export interface ClassSummary {
  name: string;
  /** The class's folder relative to the dataset (under `train/` for split folders); null for IDX and CIFAR. */
  folder: string | null;
  /** Usable images in the training and validation splits (planned for a stratified split). */
  train: number;
  val: number;
  /** Files of this class the importer would skip. */
  skipped: number;
  /** A few small PNG thumbnails as `data:image/png;base64,…` URLs. */
  thumbnails: string[];
}

export interface ImageStats {
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
  /** Median of each image's shorter side (after EXIF rotation). */
  medianShortSide: number;
  /** Images by colour: one channel, colour, with an alpha channel, more than 8 bits per sample, animated. */
  gray: number;
  colour: number;
  alpha: number;
  highBitDepth: number;
  animated: number;
}

export type DatasetVerdict = { usable: true } | { usable: false; reason: string };

/** What `adjoin data scan` prints and the UI shows after a folder is dropped. */
export interface DatasetScan {
  root: string;
  name: string;
  /** null when no layout Adjoin can read was found. */
  layout: DatasetLayout | null;
  split: SplitPlan | null;
  classes: ClassSummary[];
  files: {
    /** Every file looked at, hidden ones included. */
    seen: number;
    /** Files that look like usable images (header read, format allowed). */
    images: number;
    /** Files inside class folders that would be skipped. */
    skipped: number;
  };
  /** Files by sniffed type: image formats, and `bmp`, `svg`, `text`, `empty`, `unknown`, … */
  fileTypes: Record<string, number>;
  totalBytes: number;
  images: ImageStats | null;
  /** Import settings that fit these images (the UI preselects them). */
  suggested: { size: number; channels: 1 | 3 };
  /** Problems, errors first; at most `maxProblems` of them (see `problemCounts` for all). */
  problems: DatasetProblem[];
  problemCounts: Partial<Record<ProblemKind, number>>;
  problemsOmitted: number;
  verdict: DatasetVerdict;
  seconds: number;
}

export const RESIZE_MODES = ['crop', 'stretch'] as const;
/** `crop`: shorter side to the size, then the centre square. `stretch`: both sides to the size. */
export type ResizeMode = (typeof RESIZE_MODES)[number];

export interface ImportSettings {
  /** Images are stored as size × size. */
  size: number;
  /** 1 (gray; colour converted to luminance) or 3 (RGB; gray repeated). Alpha is flattened on white. */
  channels: 1 | 3;
  resize: ResizeMode;
  /** Share of each class held out for validation when the folder has no `val/` or `test/`. */
  valSplit: number;
  /** Fixes which images are held out; kept apart from the training seed so runs stay comparable. */
  splitSeed: number;
}

export const DEFAULT_IMPORT_SETTINGS: ImportSettings = { size: 32, channels: 3, resize: 'crop', valSplit: 0.2, splitSeed: 0 };

export const MIN_IMAGE_SIZE = 4;
export const MAX_IMAGE_SIZE = 1024;

/** Fills in defaults and checks each field, naming the bad one. */
export function importSettings(partial: Partial<ImportSettings> = {}): ImportSettings {
  const s: ImportSettings = { ...DEFAULT_IMPORT_SETTINGS, ...withoutUndefined(partial) };
  if (!Number.isInteger(s.size) || s.size < MIN_IMAGE_SIZE || s.size > MAX_IMAGE_SIZE) {
    throw new InputError(`size must be an integer from ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE}, got ${s.size}`, 'size');
  }
  if (s.channels !== 1 && s.channels !== 3) throw new InputError(`channels must be 1 or 3, got ${String(s.channels)}`, 'channels');
  if (!(RESIZE_MODES as readonly string[]).includes(s.resize)) {
    throw new InputError(`resize must be one of ${RESIZE_MODES.join(', ')}, got '${String(s.resize)}'`, 'resize');
  }
  if (!Number.isFinite(s.valSplit) || s.valSplit <= 0 || s.valSplit >= 1) {
    throw new InputError(`val-split must be a fraction between 0 and 1 (e.g. 0.2), got ${s.valSplit}`, 'val-split');
  }
  if (!Number.isInteger(s.splitSeed) || s.splitSeed < 0) {
    throw new InputError(`split seed must be a non-negative integer, got ${s.splitSeed}`, 'split-seed');
  }
  return s;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type ImportPhase = 'listing' | 'reading-cache' | 'decoding' | 'writing-cache';

export interface ImportProgress {
  phase: ImportPhase;
  /** Images done of `total` (for the cache phases, the share of bytes read or written, in images). */
  done: number;
  total: number;
  /** Files skipped so far (decoding). */
  skipped: number;
  filesPerSecond: number;
  /** null until there is a rate to extrapolate from. */
  etaSeconds: number | null;
}

/** What an import produced: stored with runs so a run names exactly the images it used. */
export interface DatasetRecord {
  /** Hash of the folder's content (paths, sizes, modification times) and the decode settings. */
  key: string;
  name: string;
  root: string;
  layout: DatasetLayout;
  settings: ImportSettings;
  classes: string[];
  /** Per class, in `classes` order. */
  trainCounts: number[];
  valCounts: number[];
  split: SplitPlan;
  /** Hash of the validation files' names: equal for two runs iff they validated on the same images. */
  valFingerprint: string;
  /** Files skipped and warnings (errors refuse the import instead). */
  problems: DatasetProblem[];
  /** Files in class folders that could not be decoded. */
  skipped: number;
  /** The cache file; `repaired` says why an existing one was found damaged and rebuilt. */
  cache: { file: string; hit: boolean; bytes: number; repaired: string | null };
  /** Files this import read and decoded (skipped ones included); 0 when the cache was read. */
  decoded: number;
  seconds: number;
}

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Errors first, then warnings, then notes; stable within a severity. */
export function sortProblems(problems: readonly DatasetProblem[]): DatasetProblem[] {
  return problems
    .map((p, i) => [p, i] as const)
    .sort((a, b) => ORDER[a[0].severity] - ORDER[b[0].severity] || a[1] - b[1])
    .map(([p]) => p);
}

export function countProblems(problems: readonly DatasetProblem[]): Partial<Record<ProblemKind, number>> {
  const counts: Partial<Record<ProblemKind, number>> = {};
  for (const p of problems) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  return counts;
}

/** Usable unless some problem is an error; the reason joins the errors' messages. */
export function verdictOf(problems: readonly DatasetProblem[]): DatasetVerdict {
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return { usable: true };
  return { usable: false, reason: errors.map((e) => e.message).join('; ') };
}

/** Below this many images a class gets a warning: its accuracy is mostly noise. */
export const TINY_CLASS = 10;

export interface ClassCounts {
  name: string;
  folder: string | null;
  train: number;
  val: number;
}

/**
 * The class-level rules (docs/RELIABILITY.md rows 20–21): no class folder, one class,
 * an empty class, a class with validation images only, and an empty
 * validation split block the dataset; one-image and tiny classes, and
 * classes missing from `val/`, are warnings.
 */
export function classProblems(classes: readonly ClassCounts[], split: SplitPlan | null): DatasetProblem[] {
  const out: DatasetProblem[] = [];
  if (classes.length === 0) return [problem('.', 'no-classes', 'found no class folders')];
  const empty = classes.filter((c) => c.train + c.val === 0);
  if (empty.length > 0) {
    for (const c of empty) out.push(problem(c.folder ?? c.name, 'empty-class', `class '${c.name}' has no usable images`));
  }
  const valOnly = classes.filter((c) => c.train === 0 && c.val > 0);
  for (const c of valOnly) {
    out.push(problem(c.folder ?? c.name, 'no-training-images', `class '${c.name}' has validation images but no training images`));
  }
  if (classes.length === 1) {
    out.push(problem('.', 'single-class', `found only one class ('${classes[0]!.name}'); a classifier needs at least 2`));
  }
  const live = classes.filter((c) => c.train > 0);
  for (const c of live) {
    const n = c.train + c.val;
    const at = c.folder ?? c.name;
    if (n === 1) {
      out.push(problem(at, 'single-image-class', `class '${c.name}' has a single image: it is trained on but never validated`));
    } else if (n < TINY_CLASS) {
      out.push(problem(at, 'tiny-class', `class '${c.name}' has only ${n} images; its accuracy will be noisy`));
    }
    if (split?.kind === 'folders' && c.val === 0 && n > 1) {
      out.push(problem(at, 'no-validation-images', `class '${c.name}' has no images in ${split.val}/`));
    }
  }
  if (live.length >= 2 && classes.every((c) => c.val === 0)) {
    const why = split?.kind === 'folders' ? `${split.val}/ has no usable images` : 'every class has fewer than 2 images';
    out.push(problem('.', 'empty-validation', `no images left for validation: ${why}`));
  }
  return out;
}

/**
 * How many of a class's `n` images a stratified split holds out: the
 * rounded share, but at least one when the class has two or more (so every
 * class is validated) and never all of them (so every class is trained on).
 */
export function heldOut(n: number, fraction: number): number {
  if (n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
}
