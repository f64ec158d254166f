import type { Db } from './db.js';

/** A few remembered choices (the app's "Run on", this history's name on queues): text by key. */
export class Settings {
  constructor(private readonly db: Db) {}

  get(key: string): string | null {
    const r = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value ?? null;
  }

  set(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(key, value);
  }
}
