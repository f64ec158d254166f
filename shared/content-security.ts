/**
 * The renderer's Content-Security-Policy: its own scripts and styles only,
 * no inline code, no framing. Where it may connect is the one difference:
 * the desktop app speaks over IPC and needs no socket at all; the browser
 * shell opens its API WebSocket back to loopback.
 */
function policy(connect: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The desktop app's page (served on app://adjoin): no WebSocket, no other origin. */
export const DESKTOP_POLICY = policy(["'self'"]);

/** The browser shell's page: its API socket on loopback too. */
export const BROWSER_SHELL_POLICY = policy(["'self'", 'ws://127.0.0.1:*', 'ws://localhost:*']);
