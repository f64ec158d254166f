import { createHash } from 'node:crypto';
import { DecodeError, type Decoder, decodeJson, int, nullable, num, obj, oneOf, optional, bool, str } from '../../shared/decode.js';
import { EXPORT_FORMATS, EXPORT_NETWORKS, type Precision, precisionNamed, PRECISIONS } from '../../shared/export.js';
import { jsonObject } from './codecs.js';
import type { ModelRecord } from '../../shared/history.js';
import type { Db } from './db.js';

/** One file of an export, as written next to the model and kept in the database. */
export interface ModelFile {
  name: string;
  data: Uint8Array;
}

/** What an export stores: the record's figures (the store adds the id, sizes and time) and its files. */
export interface NewModel extends Omit<ModelRecord, 'id' | 'byteSize' | 'createdAt' | 'files'> {
  files: readonly ModelFile[];
}

/** A stored file whose bytes no longer match the SHA-256 recorded when it was exported. */
export class CorruptBlobError extends Error {
  override readonly name = 'CorruptBlobError';
}

interface Row {
  id: number;
  run_id: number;
  network: string;
  format: string;
  precision: string;
  params: number;
  macs: number;
  accuracy: number | null;
  byte_size: number;
  latency_ms: number | null;
  full_latency_ms: number | null;
  full_macs: number | null;
  fp32_latency_ms: number | null;
  verification: string;
  metadata: string;
  out_dir: string;
  created_at: number;
}

/** A precision by today's name or by an older history's (`float32`, `float16`). */
const precision: Decoder<Precision> = (v, path) => {
  const p = typeof v === 'string' ? precisionNamed(v) : null;
  if (p === null) throw new DecodeError(path, `one of ${PRECISIONS.join(', ')}`, v);
  return p;
};

/** Absent in rows older exports wrote: read as null. */
const orNull = <T>(d: Decoder<T>): Decoder<T | null> => {
  const o = optional(nullable(d));
  return (v, path) => o(v, path) ?? null;
};

const verificationDecoder = obj({
  reference: str,
  runtime: str,
  samples: int,
  validationSamples: int,
  top1Agreement: num,
  // JSON has no Infinity: a check that compared nothing stored null here.
  maxAbsLogitDiff: orNull(num),
  accuracy: orNull(num),
  referenceAccuracy: orNull(num),
  accuracyDrop: orNull(num),
  required: obj({ top1Agreement: num, maxAbsLogitDiff: nullable(num), maxAccuracyDrop: orNull(num) }),
  passed: bool,
  note: nullable(str),
});

const verification: Decoder<ModelRecord['verification']> = (v, path) => {
  const r = verificationDecoder(v, path);
  return {
    ...r,
    maxAbsLogitDiff: r.maxAbsLogitDiff ?? Infinity,
    required: { ...r.required, maxAccuracyDrop: r.required.maxAccuracyDrop ?? null },
  } as ModelRecord['verification'];
};

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Exported models and their files. Files are BLOBs with their size and SHA-256. */
export class Models {
  constructor(private readonly db: Db) {}

  /** The model row and all its files, in one transaction. Format and precision must be ones shared/export.ts lists. */
  insert(m: NewModel, now: number): number {
    oneOf(EXPORT_FORMATS)(m.format, 'model.format');
    oneOf(PRECISIONS)(m.precision, 'model.precision');
    oneOf(EXPORT_NETWORKS)(m.network, 'model.network');
    return this.db.transaction(() => {
      const byteSize = m.files.reduce((n, f) => n + f.data.byteLength, 0);
      const { id } = this.db
        .prepare(
          `INSERT INTO models (run_id, network, format, precision, params, macs, accuracy, byte_size, latency_ms, full_latency_ms,
             full_macs, fp32_latency_ms, verification, metadata, out_dir, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(
          m.runId,
          m.network,
          m.format,
          m.precision,
          m.params,
          m.macs,
          m.accuracy,
          byteSize,
          m.latencyMs,
          m.fullLatencyMs,
          m.fullMacs,
          m.fp32LatencyMs,
          JSON.stringify(m.verification),
          JSON.stringify(m.metadata),
          m.outDir,
          now,
        ) as { id: number };
      const file = this.db.prepare('INSERT INTO model_files (model_id, name, data, byte_size, sha256) VALUES (?, ?, ?, ?, ?)');
      for (const f of m.files) file.run(id, f.name, Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength), f.data.byteLength, sha256(f.data));
      return id;
    })();
  }

  /** A run's exports, oldest first, without their bytes. */
  list(runId: number): ModelRecord[] {
    const rows = this.db.prepare('SELECT * FROM models WHERE run_id = ? ORDER BY id').all(runId) as Row[];
    const files = this.db.prepare('SELECT name, byte_size, sha256 FROM model_files WHERE model_id = ? ORDER BY name');
    return rows.map((r) => {
      const where = `models[${r.id}]`;
      return {
        id: r.id,
        runId: r.run_id,
        network: oneOf(EXPORT_NETWORKS)(r.network, `${where}.network`),
        format: oneOf(EXPORT_FORMATS)(r.format, `${where}.format`),
        precision: precision(r.precision, `${where}.precision`),
        params: r.params,
        macs: r.macs,
        accuracy: r.accuracy,
        byteSize: r.byte_size,
        latencyMs: r.latency_ms,
        fullLatencyMs: r.full_latency_ms,
        fullMacs: r.full_macs,
        fp32LatencyMs: r.fp32_latency_ms,
        verification: decodeJson(r.verification, verification, `${where}.verification`),
        metadata: decodeJson(r.metadata, jsonObject, `${where}.metadata`),
        outDir: r.out_dir,
        createdAt: r.created_at,
        files: (files.all(r.id) as Array<{ name: string; byte_size: number; sha256: string }>).map((f) => ({
          name: f.name,
          byteSize: f.byte_size,
          sha256: f.sha256,
        })),
      };
    });
  }

  /** A model's files, each checked against its SHA-256; a mismatch throws CorruptBlobError naming the file. */
  files(modelId: number): ModelFile[] {
    const rows = this.db.prepare('SELECT name, data, byte_size, sha256 FROM model_files WHERE model_id = ? ORDER BY name').all(modelId) as Array<{
      name: string;
      data: Buffer;
      byte_size: number;
      sha256: string;
    }>;
    return rows.map((r) => {
      const data = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      if (data.byteLength !== r.byte_size || sha256(data) !== r.sha256) {
        throw new CorruptBlobError(
          `the stored ${r.name} of model ${modelId} is corrupted: its SHA-256 is ${sha256(data)}, ${r.sha256} was recorded (${data.byteLength} of ${r.byte_size} bytes)`,
        );
      }
      return { name: r.name, data };
    });
  }

  /** Which of a model's stored files still match their SHA-256. */
  check(modelId: number): Array<{ name: string; ok: boolean }> {
    const rows = this.db.prepare('SELECT name, data, sha256 FROM model_files WHERE model_id = ? ORDER BY name').all(modelId) as Array<{
      name: string;
      data: Buffer;
      sha256: string;
    }>;
    return rows.map((r) => ({ name: r.name, ok: sha256(r.data) === r.sha256 }));
  }
}
