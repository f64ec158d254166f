import { describe, expect, it } from 'vitest';
import { classProblems, heldOut, importSettings, problem, sortProblems, verdictOf, type ClassCounts } from '../../shared/dataset.js';
import { InputError } from '../../shared/errors.js';

const cls = (name: string, train: number, val = 0): ClassCounts => ({ name, folder: name, train, val });

describe('import settings', () => {
  it('fills in defaults', () => {
    expect(importSettings()).toEqual({ size: 32, channels: 3, resize: 'crop', valSplit: 0.2, splitSeed: 0 });
    // A flag that was not given (undefined) keeps the default.
    expect(importSettings({ channels: 1, size: undefined })).toMatchObject({ channels: 1, size: 32 });
  });

  it.each([
    [{ size: 3 }, 'size', /size must be an integer from 4 to 1024, got 3/],
    [{ size: 16.5 }, 'size', /got 16.5/],
    [{ channels: 4 as never }, 'channels', /channels must be 1 or 3, got 4/],
    [{ resize: 'squash' as never }, 'resize', /resize must be one of crop, stretch/],
    [{ valSplit: 0 }, 'val-split', /between 0 and 1/],
    [{ valSplit: 1 }, 'val-split', /between 0 and 1/],
    [{ splitSeed: -1 }, 'split-seed', /non-negative/],
  ])('refuses %j, naming the field', (partial, field, message) => {
    let error: unknown;
    try {
      importSettings(partial);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).field).toBe(field);
    expect((error as Error).message).toMatch(message);
  });
});

describe('heldOut', () => {
  it('holds out the rounded share, at least one of two or more, never all', () => {
    expect([0, 1, 2, 3, 5, 10, 11, 100].map((n) => heldOut(n, 0.2))).toEqual([0, 0, 1, 1, 1, 2, 2, 20]);
    expect(heldOut(4, 0.9)).toBe(3);
  });
});

describe('class problems', () => {
  const stratified = { kind: 'stratified', fraction: 0.2, seed: 0 } as const;
  const folders = { kind: 'folders', train: 'train', val: 'val' } as const;

  it('passes two healthy classes', () => {
    expect(classProblems([cls('a', 40, 10), cls('b', 40, 10)], stratified)).toEqual([]);
  });

  it('blocks no classes, one class, an empty class, a validation-only class', () => {
    expect(classProblems([], stratified).map((p) => p.kind)).toEqual(['no-classes']);
    expect(classProblems([cls('a', 40, 10)], stratified).map((p) => p.kind)).toEqual(['single-class']);
    expect(classProblems([cls('a', 40, 10), cls('b', 0)], stratified).map((p) => [p.file, p.kind])).toEqual([['b', 'empty-class']]);
    expect(classProblems([cls('a', 40, 10), cls('b', 40, 10), cls('c', 0, 3)], folders).map((p) => p.kind)).toEqual(['no-training-images']);
  });

  it('warns about tiny classes and classes missing from val/', () => {
    const kinds = classProblems([cls('a', 40, 10), cls('b', 1), cls('c', 3, 1), cls('d', 12, 0)], folders).map((p) => [p.file, p.kind]);
    expect(kinds).toEqual([
      ['b', 'single-image-class'],
      ['c', 'tiny-class'],
      ['d', 'no-validation-images'],
    ]);
  });

  it('blocks a split with nothing to validate on', () => {
    expect(classProblems([cls('a', 1), cls('b', 1)], stratified).map((p) => p.kind)).toContain('empty-validation');
  });
});

describe('verdicts', () => {
  it('is usable without errors, else joins the errors', () => {
    const warn = problem('x.jpg', 'truncated', 'skipped');
    const e1 = problem('a', 'empty-class', "class 'a' has no usable images");
    const e2 = problem('.', 'single-class', 'found only one class');
    expect(verdictOf([warn])).toEqual({ usable: true });
    expect(verdictOf([warn, e1, e2])).toEqual({ usable: false, reason: "class 'a' has no usable images; found only one class" });
    expect(sortProblems([problem('h', 'hidden-file', 'h'), warn, e1]).map((p) => p.severity)).toEqual(['error', 'warning', 'info']);
  });
});
