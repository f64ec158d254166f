import { decodeJson } from '../../shared/decode.js';
import type { DatasetInput, StoredDataset } from '../../shared/history.js';
import { canonicalJson, insertReturningId, type Db } from './db.js';
import { jsonObject } from './codecs.js';

export type { DatasetInput };

interface Row {
  id: number;
  path: string;
  content_key: string;
  name: string;
  summary: string;
  split: string;
  created_at: number;
}

export class Datasets {
  constructor(private readonly db: Db) {}

  /** The row for this content and split, created or brought up to date (the folder may have moved). */
  upsert(d: DatasetInput, now: number): number {
    return insertReturningId(
      this.db,
      `INSERT INTO datasets (path, content_key, name, summary, split, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (content_key, split) DO UPDATE SET path = excluded.path, name = excluded.name, summary = excluded.summary
       RETURNING id`,
      d.path,
      d.contentKey,
      d.name,
      canonicalJson(d.summary),
      canonicalJson(d.split),
      now,
    );
  }

  get(id: number): StoredDataset | null {
    const r = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as Row | undefined;
    if (r === undefined) return null;
    return {
      id: r.id,
      path: r.path,
      contentKey: r.content_key,
      name: r.name,
      summary: decodeJson(r.summary, jsonObject, `datasets[${r.id}].summary`),
      split: decodeJson(r.split, jsonObject, `datasets[${r.id}].split`),
      createdAt: r.created_at,
    };
  }
}
