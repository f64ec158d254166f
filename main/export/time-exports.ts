import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ExportMetadata, ExportTiming, LatencyReport } from '../../shared/export.js';
import { EXPORT_FORMATS } from '../../shared/export.js';
import { InputError } from '../../shared/errors.js';
import type { InputShape, ModelSession } from './formats/exporter.js';
import type { ExportFile } from './files.js';
import { EXPORTERS } from './formats/registry.js';
import { type LatencyOptions, measureLatency } from './latency.js';

/** An exported model as `adjoin export` left it: its files and what metadata.json says of them. */
export interface ExportFolder {
  dir: string;
  /** The folder's name, or the name given before an `=` (`resnet=out/r`). */
  label: string;
  metadata: ExportMetadata;
  files: ExportFile[];
}

/** Reads an export folder; a folder that is not one gives an InputError naming it and what is missing. */
export function readExportFolder(spec: string): ExportFolder {
  const eq = spec.indexOf('=');
  const dir = resolve(eq > 0 ? spec.slice(eq + 1) : spec);
  const label = eq > 0 ? spec.slice(0, eq) : basename(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`${dir} is not a folder (give the --out folder of adjoin export)`, 'dir');
  const metaPath = join(dir, 'metadata.json');
  if (!existsSync(metaPath)) throw new InputError(`${dir} has no metadata.json: it is not a folder written by adjoin export`, 'dir');
  let metadata: ExportMetadata;
  try {
    metadata = JSON.parse(readFileSync(metaPath, 'utf8')) as ExportMetadata;
  } catch (e) {
    throw new InputError(`${metaPath} is not valid JSON (${(e as Error).message})`, 'dir');
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(metadata.modelFormat)) {
    throw new InputError(`${metaPath} names an unknown model format ${JSON.stringify(metadata.modelFormat)}`, 'dir');
  }
  if (!Array.isArray(metadata.files) || metadata.files.length === 0) throw new InputError(`${metaPath} lists no files`, 'dir');
  if (typeof metadata.input !== 'object' || metadata.input === null || !Array.isArray(metadata.input.shape) || metadata.input.shape.length !== 4) {
    throw new InputError(`${metaPath} has no four-dimensional input shape`, 'dir');
  }
  const files = metadata.files.map((name) => {
    // The model's own files lie in its folder: a listed path that leaves it is not read.
    if (typeof name !== 'string' || name !== basename(name) || name === '..')
      throw new InputError(`${metaPath} lists ${JSON.stringify(name)}, not a file name in its folder`, 'dir');
    const path = join(dir, name);
    if (!existsSync(path)) throw new InputError(`${path} is missing (metadata.json lists it)`, 'dir');
    return { name, data: new Uint8Array(readFileSync(path)) };
  });
  return { dir, label, metadata, files };
}

/** The input's height, width and channels from metadata.json's shape and layout. */
export function inputShapeOf(m: ExportMetadata): InputShape {
  const [, a, b, c] = m.input.shape;
  const dims = m.input.layout === 'NCHW' ? { channels: a, height: b, width: c } : { height: a, width: b, channels: c };
  for (const [k, v] of Object.entries(dims)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new InputError(`metadata.json's input has no fixed ${k} (${JSON.stringify(m.input.shape)})`, 'dir');
  }
  return dims as InputShape;
}

/**
 * Batch-1 latency of exported models, one thread each, timed round-robin in
 * one process so that the machine's load hits them alike and their ratios
 * stay fair (see measureLatency). Models of different formats are timed in
 * their own runtimes, each format's models together.
 */
export async function timeExportFolders(
  folders: readonly ExportFolder[],
  options: LatencyOptions = {},
  onProgress?: (s: string) => void,
): Promise<ExportTiming[]> {
  const labels = new Set<string>();
  for (const f of folders) {
    if (labels.has(f.label)) throw new InputError(`two folders are named ${f.label}: name them (label=DIR)`, 'dir');
    labels.add(f.label);
  }
  const timings = new Map<string, LatencyReport>();
  for (const format of EXPORT_FORMATS) {
    const group = folders.filter((f) => f.metadata.modelFormat === format);
    if (group.length === 0) continue;
    const exporter = EXPORTERS[format];
    onProgress?.(`timing ${group.length} ${format} model${group.length === 1 ? '' : 's'} batch-1 in ${exporter.runtime}`);
    const sessions: Record<string, ModelSession> = {};
    try {
      for (const f of group) {
        const q = f.metadata.input.dtype === 'uint8' ? (f.metadata.input.quantization ?? null) : null;
        sessions[f.label] = await exporter.open(f.files, inputShapeOf(f.metadata), { threads: 1, uint8Input: q });
      }
      for (const [label, report] of Object.entries(await measureLatency(sessions, exporter.runtime, options))) timings.set(label, report);
    } finally {
      for (const s of Object.values(sessions)) await s.release();
    }
  }
  return folders.map((f) => ({
    label: f.label,
    dir: f.dir,
    format: f.metadata.modelFormat,
    precision: f.metadata.precision,
    arch: f.metadata.architecture.arch,
    network: f.metadata.network,
    sourceRunId: f.metadata.sourceRunId,
    params: f.metadata.params,
    macs: f.metadata.macs,
    validationAccuracy: f.metadata.validationAccuracy,
    latency: timings.get(f.label)!,
  }));
}
