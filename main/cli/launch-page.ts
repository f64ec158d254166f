import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface LaunchPage {
  /** The page to hand the browser: its path, not the link, goes on the command line. */
  file: string;
  remove(): void;
}

/**
 * A page that sends the browser on to `url`, in a fresh folder only this
 * user can enter (mkdtemp makes it 0700) and readable by this user only, so
 * the link's token never appears on a command line (`ps` shows those to
 * every local user). The token admits one page anyway; the file is removed
 * once it has been used.
 */
export function writeLaunchPage(url: string, dir: string = tmpdir()): LaunchPage {
  const folder = mkdtempSync(join(dir, 'adjoin-open-'));
  const file = join(folder, 'open-adjoin.html');
  const href = escapeHtml(url);
  writeFileSync(
    file,
    `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
      `<meta http-equiv="refresh" content="0;url=${href}"><title>Opening Adjoin…</title></head>` +
      `<body><p><a href="${href}">Open Adjoin</a></p></body></html>\n`,
    { mode: 0o600 },
  );
  return { file, remove: () => rmSync(folder, { recursive: true, force: true }) };
}
