import sharp from 'sharp';

/** Thumbnails fit in this square: enough for a grid of samples per class, a few hundred bytes each. */
const THUMBNAIL_SIZE = 64;

function dataUrl(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** A small PNG of an image file, oriented and flattened as the importer would see it. Throws what the decoder throws. */
export async function thumbnailOfFile(path: string, maxPixels: number): Promise<string> {
  const png = await sharp(path, { failOn: 'warning', limitInputPixels: maxPixels, autoOrient: true })
    .flatten({ background: '#ffffff' })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer();
  return dataUrl(png);
}

/** A small PNG of uint8 HWC pixels (IDX and CIFAR images). */
export async function thumbnailOfPixels(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<string> {
  const png = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, width * height * channels), { raw: { width, height, channels } })
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer();
  return dataUrl(png);
}
