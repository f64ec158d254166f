import { skipLines, type BackendInfo } from '../../shared/backend.js';
import type { EngineEvent, EventOf, PathMetrics } from '../../shared/events.js';
import { formatCount, formatDuration, percent } from './format.js';

/** "full 91.20%  small 88.40%", leaving out a network the run does not have. */
export function accuracies(val: { full: PathMetrics | null; small: PathMetrics | null }): string {
  const parts: string[] = [];
  if (val.full !== null) parts.push(`full ${percent(val.full.accuracy)}`);
  if (val.small !== null) parts.push(`small ${percent(val.small.accuracy)}`);
  return parts.join('  ');
}

/**
 * Renders training events for people: a live progress bar on a terminal,
 * one line per epoch, and a summary at the end.
 */
/** Per-group widths as `group=α …`. */
function alphaList(alphas: Record<string, number>): string {
  return Object.entries(alphas)
    .map(([g, a]) => `${g}=${a}`)
    .join(' ');
}

export class ProgressPrinter {
  private barShown = false;

  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
  ) {}

  private line(s: string): void {
    if (this.barShown) this.write('\r\x1b[2K');
    this.barShown = false;
    this.write(`${s}\n`);
  }

  /** The backend, and why each faster one was not used. */
  private backend(b: BackendInfo): void {
    this.line(`backend: ${b.label} — ${b.device}`);
    for (const line of skipLines(b)) this.line(`  not used: ${line}`);
  }

  /** Redraws the live bar in place: the next line clears it. */
  private bar(parts: string[]): void {
    this.write(`\r\x1b[2K${parts.join('  ')}`);
    this.barShown = true;
  }

  private started(e: EventOf<'started'>): void {
    const c = e.config;
    const m = c.model;
    this.line(
      `training ${m.arch} (${m.stem} stem, width ${m.width}) ${c.mode === 'standard' ? 'standard' : typeof c.alpha === 'number' ? `adjoined, α=${c.alpha}` : `adjoined, per-group α (${Object.keys(c.alpha ?? {}).length} groups)`} on ${e.data.name}: ` +
        `${e.data.trainCount} train / ${e.data.valCount} val images, ${e.data.classes.length} classes, ${m.inputSize}×${m.inputSize}×${m.channels}`,
    );
    this.backend(e.backend);
    this.line(
      `full network: ${e.cost.full.params.toLocaleString('en-US')} params, ${formatCount(e.cost.full.macs)} MACs` +
        (e.cost.small ? `; small: ${e.cost.small.params.toLocaleString('en-US')} params, ${formatCount(e.cost.small.macs)} MACs` : ''),
    );
    if (e.resumedFrom !== null) this.line(`resumed at epoch ${e.resumedFrom.epoch + 1}, step ${e.resumedFrom.step}`);
  }

  /** A live bar on a terminal; elsewhere (a log file) one line at the first step and at each epoch's last. */
  private step(e: EventOf<'step'>): void {
    if (!this.tty) {
      if (e.step === e.stepsPerEpoch || e.globalStep === 1) {
        this.line(`epoch ${e.epoch} step ${e.step}/${e.stepsPerEpoch} loss ${e.loss.toFixed(4)} ETA ${formatDuration(e.etaSeconds)}`);
      }
      return;
    }
    const width = 24;
    const filled = Math.round(width * (e.step / e.stepsPerEpoch));
    this.bar([
      `epoch ${e.epoch}`,
      `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`,
      `${e.step}/${e.stepsPerEpoch}`,
      `loss ${e.loss.toFixed(4)}`,
      ...(e.kl !== null ? [`λ ${e.lambda.toFixed(2)}`] : []),
      `lr ${e.lr.toPrecision(2)}`,
      `${e.imagesPerSecond.toFixed(0)} img/s`,
      `ETA ${formatDuration(e.etaSeconds)}`,
    ]);
  }

  private finished(e: EventOf<'finished'>): void {
    this.line(`finished in ${formatDuration(e.seconds)}: ${accuracies(e.val)}`);
    if (e.outputs !== null) {
      this.line(`saved ${e.outputs.network}`);
      if (e.outputs.small !== null) this.line(`saved small network: ${e.outputs.small.bundle} and TF.js model ${e.outputs.small.tfjs}`);
    }
  }

  private searchStarted(e: EventOf<'search-started'>): void {
    this.line(
      `searching ${e.config.model.arch} widths over α ∈ {${e.config.space.join(', ')}} for ${e.groups.length} width groups on ${e.data.name} ` +
        `(${e.data.trainCount} train / ${e.data.valCount} val), ` +
        (e.target === null
          ? `γ=${e.config.gamma} (the paper's mode)`
          : `target ${formatCount(e.target)} MACs (feasible ${formatCount(e.feasible.min)} … ${formatCount(e.feasible.max)}), ` +
            `${e.heldOut} images held out for η, ${e.warmupSteps} of ${e.totalSteps} steps of weight warm-up`),
    );
    this.backend(e.backend);
  }

  /** A live bar on a terminal only: a search's epoch lines say enough in a log file. */
  private searchStep(e: EventOf<'search-step'>): void {
    if (!this.tty) return;
    this.bar([
      `search epoch ${e.epoch}`,
      `${e.step}/${e.stepsPerEpoch}`,
      `loss ${e.loss.toFixed(4)}`,
      `n_f ${e.flops.toFixed(3)}`,
      `τ ${e.tau.toFixed(2)}`,
      ...(e.penalty > 0 ? [`penalty ${e.penalty.toFixed(3)}`] : []),
      `${e.imagesPerSecond.toFixed(0)} img/s`,
      `ETA ${formatDuration(e.etaSeconds)}`,
    ]);
  }

  private searchEpoch(e: EventOf<'search-epoch'>): void {
    const target = e.target === null ? '' : ` vs target ${formatCount(e.target)} (penalty ${e.penalty.toFixed(3)})`;
    this.line(
      `search epoch ${e.epoch}/${e.epochs}: τ ${e.tau.toFixed(2)}  expected small MACs ${formatCount(e.expectedMacs)}${target}  ` +
        `argmax ${formatCount(e.argmax.macs)} MACs / ${e.argmax.params.toLocaleString('en-US')} params  val full ${percent(e.val.full.accuracy)} small ${percent(e.val.small.accuracy)}`,
    );
    this.line(
      `  entropy per group (flat = ${Math.log(e.groups[0]?.probabilities.length ?? 1).toFixed(2)}): ${Object.entries(e.entropies)
        .map(([g, h]) => `${g} ${h.toFixed(2)}`)
        .join('  ')}`,
    );
  }

  private searchResult(e: EventOf<'search-result'>): void {
    if (e.projection !== null) {
      this.line(`argmax: ${alphaList(e.argmax.alphas)} (${formatCount(e.argmax.cost.macs)} MACs)`);
      const moves = e.projection.moves.map((m) => `${m.group} ${m.from}→${m.to} (${formatCount(m.macs)})`).join(', ');
      this.line(
        `projected onto ${formatCount(e.projection.target)} MACs ±${(e.projection.tolerance * 100).toFixed(0)} %: ${moves === '' ? 'already within' : moves}`,
      );
    }
    for (const w of e.warnings) this.line(`warning: ${w}`);
    this.line(`found: ${alphaList(e.alphas)}`);
    this.line(
      `small network: ${e.cost.small.params.toLocaleString('en-US')} params, ${formatCount(e.cost.small.macs)} MACs (full: ${formatCount(e.cost.full.macs)})`,
    );
  }

  handle(e: EngineEvent): void {
    switch (e.type) {
      case 'started':
        return this.started(e);
      case 'step':
        return this.step(e);
      case 'epoch':
        return this.line(`epoch ${e.epoch}/${e.epochs}: train loss ${e.trainLoss.toFixed(4)}  val ${accuracies(e.val)}  (${formatDuration(e.seconds)})`);
      case 'checkpoint':
        return;
      case 'finished':
        return this.finished(e);
      case 'cancelled':
        return this.line(`stopped at epoch ${e.epoch}, step ${e.step}${e.checkpoint ? `; resume with --resume (checkpoint ${e.checkpoint})` : ''}`);
      case 'failed':
        return this.line(`failed: ${e.error.message}`);
      case 'log':
        return this.line(e.message);
      case 'search-started':
        return this.searchStarted(e);
      case 'search-step':
        return this.searchStep(e);
      case 'search-epoch':
        return this.searchEpoch(e);
      case 'search-result':
        return this.searchResult(e);
    }
  }
}
