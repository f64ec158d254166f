/**
 * App-wide shortcuts: Alt+1, Alt+2… go to the screens in the navigation's
 * order (Alt, so the browser's own Ctrl+digit tab switching keeps working in
 * the browser shell).
 */
export interface KeyLike {
  key: string;
  /** The physical key: on macOS Alt+1 types "¡", but its code is still Digit1. */
  code: string;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
}

/** The 0-based screen index a key press asks for, or null. */
export function screenShortcut(e: KeyLike, screens: number): number | null {
  if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return null;
  const digit = /^(?:Digit|Numpad)([0-9])$/.exec(e.code)?.[1] ?? e.key;
  const n = Number(digit);
  return Number.isInteger(n) && n >= 1 && n <= screens ? n - 1 : null;
}
