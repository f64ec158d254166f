import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { DecodeSettings } from './decode.js';
import type { FolderListing } from './folder-layout.js';

/** Bumped whenever the importer would decode the same files differently. */
const IMPORTER_VERSION = 1;

/**
 * Names a folder's decoded form: a hash of every file's relative path,
 * size and modification time, its class and split folder, the decode
 * settings, and the decoder's version. Touching, adding, removing or
 * renaming any file gives a new key, so a stale cache is never read; the
 * split settings are not part of it, since the split is derived on opening.
 */
export function contentKey(listing: FolderListing, decode: DecodeSettings): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: IMPORTER_VERSION, vips: sharp.versions.vips, layout: listing.layout, split: listing.folderSplit, decode }));
  h.update(JSON.stringify(listing.classes.map((c) => [c.name, c.trainDir, c.valDir])));
  for (const f of listing.files) h.update(`\n${f.rel}\0${f.size}\0${f.mtimeMs}\0${f.label}\0${f.inValFolder ? 1 : 0}`);
  return h.digest('hex').slice(0, 32);
}
