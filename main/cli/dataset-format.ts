import type { DatasetProblem, DatasetRecord, DatasetScan, ImportProgress, SplitPlan } from '../../shared/dataset.js';
import { formatDuration } from './format.js';

/** 1536 → "1.5 KB". */
function formatBytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

function describeSplit(split: SplitPlan | null): string {
  if (split === null) return 'none';
  switch (split.kind) {
    case 'folders':
      return `${split.train}/ for training, ${split.val}/ for validation`;
    case 'stratified':
      return `${Math.round(split.fraction * 100)}% of each class held out for validation (seed ${split.seed})`;
    case 'files':
      return "the format's test files for validation";
  }
}

function problemLine(p: DatasetProblem): string {
  return `  ${p.severity.padEnd(7)} ${p.file}: ${p.message}`;
}

const BAR = 30;

/** The scan summary for people: classes as a bar chart, types, sizes, problems, verdict. */
export function renderScan(s: DatasetScan): string {
  const lines: string[] = [];
  const images = s.classes.reduce((n, c) => n + c.train + c.val, 0);
  lines.push(`${s.name}: ${s.layout ?? 'no dataset layout found'} — ${s.classes.length} classes, ${images} images, ${formatBytes(s.totalBytes)}`);
  lines.push(`split: ${describeSplit(s.split)}`);
  if (s.classes.length > 0) {
    const widest = s.classes.reduce((w, c) => Math.max(w, c.name.length), 5);
    const most = Math.max(1, ...s.classes.map((c) => c.train + c.val));
    lines.push('');
    lines.push(`  ${'class'.padEnd(widest)}  ${'train'.padStart(6)} ${'val'.padStart(6)} ${'skipped'.padStart(7)}`);
    for (const c of s.classes) {
      const bar = '█'.repeat(Math.round((BAR * (c.train + c.val)) / most));
      lines.push(`  ${c.name.padEnd(widest)}  ${String(c.train).padStart(6)} ${String(c.val).padStart(6)} ${String(c.skipped).padStart(7)}  ${bar}`);
    }
  }
  lines.push('');
  const types = Object.entries(s.fileTypes).sort((a, b) => b[1] - a[1]);
  if (types.length > 0) lines.push(`file types: ${types.map(([t, n]) => `${t} ${n}`).join(', ')}`);
  if (s.images !== null) {
    const i = s.images;
    lines.push(
      `image sizes: ${i.minWidth}–${i.maxWidth} × ${i.minHeight}–${i.maxHeight} (median shorter side ${i.medianShortSide}); ` +
        `${i.colour} colour, ${i.gray} gray` +
        (i.alpha > 0 ? `, ${i.alpha} with alpha` : '') +
        (i.highBitDepth > 0 ? `, ${i.highBitDepth} with 16-bit samples` : '') +
        (i.animated > 0 ? `, ${i.animated} animated` : ''),
    );
    lines.push(`suggested import: --size ${s.suggested.size} --channels ${s.suggested.channels}`);
  }
  const counted = Object.values(s.problemCounts).reduce((n, k) => n + (k ?? 0), 0);
  if (counted > 0) {
    lines.push('');
    lines.push(`problems (${counted}):`);
    for (const p of s.problems) lines.push(problemLine(p));
    if (s.problemsOmitted > 0) lines.push(`  … and ${s.problemsOmitted} more (--json lists counts by kind)`);
  }
  lines.push('');
  lines.push(s.verdict.usable ? 'usable: yes' : `usable: no — ${s.verdict.reason}`);
  return lines.join('\n');
}

/** One line for what an import did, and one per warning. */
export function renderRecord(r: DatasetRecord): string {
  const train = r.trainCounts.reduce((a, b) => a + b, 0);
  const val = r.valCounts.reduce((a, b) => a + b, 0);
  const lines = [
    `${r.name}: ${r.classes.length} classes, ${train} train / ${val} val images at ${r.settings.size}×${r.settings.size}×${r.settings.channels}` +
      (r.skipped > 0 ? `, ${r.skipped} files skipped` : '') +
      ` (${r.cache.hit ? 'from cache' : `decoded ${r.decoded} files`} in ${formatDuration(r.seconds)})`,
  ];
  if (r.cache.repaired !== null) lines.push(`note: the cached copy was damaged (${r.cache.repaired}) and has been rebuilt`);
  for (const p of r.problems) if (p.severity !== 'info') lines.push(`warning: ${p.file}: ${p.message}`);
  return lines.join('\n');
}

/** A progress line for a terminal: phase, count, rate, ETA. */
export function renderProgress(p: ImportProgress): string {
  if (p.phase === 'listing') return 'listing files…';
  const what = { 'reading-cache': 'reading cache', decoding: 'decoding', 'writing-cache': 'writing cache' }[p.phase];
  const eta = p.etaSeconds === null ? '' : `  ETA ${formatDuration(p.etaSeconds)}`;
  return `${what} ${p.done}/${p.total}  ${p.filesPerSecond.toFixed(0)} files/s${p.skipped > 0 ? `  ${p.skipped} skipped` : ''}${eta}`;
}
