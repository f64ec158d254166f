import type { SearchRecord } from '../../shared/history.js';
import { formatCount } from './format.js';

const alphaList = (a: Record<string, number>): string =>
  Object.entries(a)
    .map(([g, v]) => `${g}=α${v}`)
    .join(', ');

/** `adjoin show`'s lines for a DAN search: its mode, the budget per epoch, the argmax and the projected choice, and its warnings. */
export function searchLines(search: SearchRecord): string[] {
  const { config } = search;
  const lines: string[] = [];
  const budget = config.budget ?? null;
  lines.push(
    budget === null
      ? `  search     the paper's mode: γ = ${config.gamma}, τ by epoch from ${config.tau.initial}`
      : `  search     budget ${formatCount(budget.targetMacs)} MACs ±${(budget.tolerance * 100).toFixed(0)} % (penalty weight ${budget.weight}), ` +
          `${((config.heldOut ?? 0) * 100).toFixed(0)} % of the training images held out for η, ${((config.warmup ?? 0) * 100).toFixed(0)} % of the steps warm-up, ` +
          (config.tauSchedule === 'progress' && config.tauRange !== undefined
            ? `τ ${config.tauRange.start} → ${config.tauRange.end} by progress`
            : `τ by epoch from ${config.tau.initial}`),
  );
  for (const e of search.epochs ?? []) {
    const target =
      e.target === null ? '' : ` vs target ${formatCount(e.target)} (${((e.expectedMacs / e.target - 1) * 100).toFixed(1)} %), penalty ${e.penalty.toFixed(3)}`;
    lines.push(`  search epoch ${e.epoch}: τ ${e.tau.toFixed(2)}, E[MACs] ${formatCount(e.expectedMacs)}${target}`);
  }
  const r = search.result;
  if (r !== null) {
    if (r.argmax !== undefined) lines.push(`  argmax     ${alphaList(r.argmax.alphas)} (${formatCount(r.argmax.cost.macs)} MACs)`);
    const p = r.projection ?? null;
    if (p !== null) {
      const moves = p.moves.map((m) => `${m.group} α${m.from}→α${m.to} (${formatCount(m.macs)})`).join(', ');
      lines.push(
        `  projected  ${alphaList(r.alphas)} (${formatCount(r.cost.small.macs)} MACs; ${p.withinBand ? 'within' : 'NOT within'} ±${(p.tolerance * 100).toFixed(0)} % of ${formatCount(p.target)})`,
      );
      lines.push(`  moves      ${moves === '' ? 'none: the argmax was within the band' : moves}`);
    } else lines.push(`  found      ${alphaList(r.alphas)} (${formatCount(r.cost.small.macs)} MACs)`);
    for (const w of r.warnings ?? []) lines.push(`  warning    ${w}`);
  }
  return lines;
}
