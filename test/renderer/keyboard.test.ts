import { describe, expect, it } from 'vitest';
import { screenShortcut } from '../../renderer/src/lib/keyboard.js';

const key = (code: string, key: string, mods: Partial<{ altKey: boolean; ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }> = {}) => ({
  code,
  key,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  ...mods,
});

describe('screenShortcut', () => {
  it('Alt+1…Alt+5 pick the screens', () => {
    expect(screenShortcut(key('Digit1', '1', { altKey: true }), 5)).toBe(0);
    expect(screenShortcut(key('Digit5', '5', { altKey: true }), 5)).toBe(4);
  });
  it('reads the physical key (macOS Alt+1 types ¡)', () => {
    expect(screenShortcut(key('Digit2', '¡', { altKey: true }), 5)).toBe(1);
  });
  it('ignores digits without Alt, with other modifiers, or beyond the screens', () => {
    expect(screenShortcut(key('Digit1', '1'), 5)).toBeNull();
    expect(screenShortcut(key('Digit1', '1', { altKey: true, ctrlKey: true }), 5)).toBeNull();
    expect(screenShortcut(key('Digit9', '9', { altKey: true }), 5)).toBeNull();
    expect(screenShortcut(key('KeyA', 'a', { altKey: true }), 5)).toBeNull();
  });
});
