import { describe, expect, it } from 'vitest';
import { endsCleanly, sniff } from '../../../../main/engine/data/sniff.js';

const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? Array.from(Buffer.from(p, 'latin1')) : p)));

describe('sniff', () => {
  it.each([
    ['jpeg', bytes([0xff, 0xd8, 0xff, 0xe0])],
    ['png', bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a])],
    ['gif', bytes('GIF89a')],
    ['webp', bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 ')],
    ['tiff', bytes('II', [0x2a, 0])],
    ['tiff', bytes('MM', [0, 0x2a])],
    ['avif', bytes([0, 0, 0, 0x1c], 'ftypavif', [0, 0, 0, 0], 'avifmif1')],
  ])('recognises %s from its magic bytes', (format, head) => {
    expect(sniff(head)).toEqual({ kind: 'image', format });
  });

  it.each([
    ['bmp', bytes('BM', new Array(20).fill(0))],
    ['heic', bytes([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic')],
    ['svg', bytes('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['svg', bytes([0xef, 0xbb, 0xbf], '  <svg width="1"/>')],
    ['jxl', bytes([0xff, 0x0a, 0, 0])],
  ])('names %s as unsupported, with what to do', (format, head) => {
    expect(sniff(head)).toMatchObject({ kind: 'unsupported', format });
  });

  it.each([
    ['text', bytes('hello, this is a .jpg that is really text\n')],
    ['a PDF document', bytes('%PDF-1.7')],
    ['a zip archive', bytes('PK', [3, 4])],
    ['not a known image format', bytes([0, 1, 2, 3, 250, 251])],
  ])('says a file is %s, whatever its extension', (what, head) => {
    expect(sniff(head)).toEqual({ kind: 'not-image', what });
  });

  it('calls zero bytes empty', () => {
    expect(sniff(new Uint8Array(0))).toEqual({ kind: 'empty' });
  });
});

describe('endsCleanly', () => {
  it('wants the end marker of JPEG, PNG and GIF', () => {
    expect(endsCleanly('jpeg', bytes([1, 2, 0xff, 0xd9]))).toBe(true);
    expect(endsCleanly('jpeg', bytes([1, 2, 0xff, 0xd9, 0, 0]))).toBe(true);
    expect(endsCleanly('jpeg', bytes([1, 2, 3, 4]))).toBe(false);
    expect(endsCleanly('png', bytes([0, 0, 0, 0], 'IEND', [0xae, 0x42, 0x60, 0x82]))).toBe(true);
    expect(endsCleanly('png', bytes('IDAT', [1, 2, 3, 4, 5, 6, 7, 8]))).toBe(false);
    expect(endsCleanly('gif', bytes([0, 0x3b]))).toBe(true);
    expect(endsCleanly('gif', bytes([0x3b, 0]))).toBe(false);
    expect(endsCleanly('webp', bytes([1]))).toBe(true);
  });
});
