import { BACKEND_TITLES, type BackendKind } from '../../../shared/backend.js';
import type { FolderReport, HistoryReport, NativeModuleReport, SystemReport } from '../../../shared/system.js';

/** The System screen's wording, kept out of the component so it can be tested. */

export function backendTitle(kind: BackendKind): string {
  return BACKEND_TITLES[kind];
}

/** "used by runs" / "available" / "not available", for the backends table. */
export function backendState(report: SystemReport, kind: BackendKind, available: boolean): string {
  if (kind === report.chosen) return 'used by runs';
  return available ? 'available' : 'not available';
}

export function moduleState(m: NativeModuleReport): string {
  switch (m.status) {
    case 'ok':
      return 'loads';
    case 'mismatch':
      return 'built for another runtime';
    case 'missing':
      return 'not installed';
    case 'error':
      return 'fails to load';
  }
}

export function freeSpace(f: FolderReport): string {
  if (f.error !== null) return f.error;
  if (f.freeBytes === null) return 'unknown';
  const gb = f.freeBytes / 1e9;
  return gb >= 1 ? `${gb.toFixed(1)} GB free` : `${(f.freeBytes / 1e6).toFixed(0)} MB free`;
}

/** The history's state in a few words: sound, damaged (with the first findings), or not there yet. */
export function historyState(h: HistoryReport): { text: string; sound: boolean } {
  if (!h.exists) return { text: 'no history yet', sound: true };
  if (h.error !== null) return { text: `could not be checked: ${h.error}`, sound: false };
  const findings = h.integrity ?? [];
  if (findings.length === 1 && findings[0] === 'ok') return { text: 'integrity check passed', sound: true };
  return { text: `damaged: ${findings.slice(0, 3).join('; ')}`, sound: false };
}

/** The navigation's one-line hint: what runs would train on. */
export function systemHint(report: SystemReport | null, loading: boolean): string {
  if (report === null) return loading ? 'checking…' : 'not checked yet';
  return report.chosen === null ? 'no backend can run' : `runs use ${backendTitle(report.chosen)}`;
}
