import { decodeJson } from '../../shared/decode.js';
import { logits } from './codecs.js';
import type { DanChoice, DanEpoch } from '../../shared/history.js';
import type { Db } from './db.js';

interface Row {
  epoch: number;
  width_group: string;
  alpha: number;
  logits: string;
  probabilities: string;
  tau: number | null;
}

/** The DAN search's choices per epoch, so the history shows how the architecture settled. */
export class DanChoices {
  constructor(private readonly db: Db) {}

  put(runId: number, epoch: number, tau: number | null, choices: readonly DanChoice[]): void {
    const insert = this.db.prepare(
      'INSERT OR REPLACE INTO dan_choices (run_id, epoch, width_group, alpha, logits, probabilities, tau) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const c of choices) insert.run(runId, epoch, c.group, c.alpha, JSON.stringify(c.logits), JSON.stringify(c.probabilities), tau);
  }

  /** Per epoch; within an epoch, groups in name order. */
  list(runId: number): DanEpoch[] {
    const rows = this.db
      .prepare('SELECT epoch, width_group, alpha, logits, probabilities, tau FROM dan_choices WHERE run_id = ? ORDER BY epoch, width_group')
      .all(runId) as Row[];
    const byEpoch = new Map<number, DanEpoch>();
    for (const r of rows) {
      const where = `dan_choices[${runId}, ${r.epoch}, ${r.width_group}]`;
      let e = byEpoch.get(r.epoch);
      if (e === undefined) byEpoch.set(r.epoch, (e = { epoch: r.epoch, tau: r.tau, choices: [] }));
      e.choices.push({
        group: r.width_group,
        alpha: r.alpha,
        logits: decodeJson(r.logits, logits, `${where}.logits`),
        probabilities: decodeJson(r.probabilities, logits, `${where}.probabilities`),
      });
    }
    return [...byEpoch.values()];
  }
}
