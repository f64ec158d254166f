import type { ImageStats } from '../../../shared/dataset.js';

/** One image's header facts, as the statistics need them. */
export interface ImageFacts {
  width: number;
  height: number;
  gray: boolean;
  alpha: boolean;
  highBitDepth: boolean;
  animated: boolean;
}

/**
 * Sizes and kinds of a folder's images, gathered one image at a time: no
 * array of every image is kept or spread into a call (a million images
 * would overflow the stack), and the median short side comes from a count
 * per distinct size.
 */
export class ImageStatsAccumulator {
  private count = 0;
  private minWidth = Infinity;
  private maxWidth = -Infinity;
  private minHeight = Infinity;
  private maxHeight = -Infinity;
  private readonly shortSides = new Map<number, number>();
  private gray = 0;
  private alpha = 0;
  private highBitDepth = 0;
  private animated = 0;

  add(i: ImageFacts): void {
    this.count += 1;
    this.minWidth = Math.min(this.minWidth, i.width);
    this.maxWidth = Math.max(this.maxWidth, i.width);
    this.minHeight = Math.min(this.minHeight, i.height);
    this.maxHeight = Math.max(this.maxHeight, i.height);
    const short = Math.min(i.width, i.height);
    this.shortSides.set(short, (this.shortSides.get(short) ?? 0) + 1);
    if (i.gray) this.gray += 1;
    if (i.alpha) this.alpha += 1;
    if (i.highBitDepth) this.highBitDepth += 1;
    if (i.animated) this.animated += 1;
  }

  /** The lower median of the short sides (the ((n − 1) / 2)-th smallest). */
  private medianShortSide(): number {
    const rank = Math.floor((this.count - 1) / 2);
    let seen = 0;
    for (const side of [...this.shortSides.keys()].sort((a, b) => a - b)) {
      seen += this.shortSides.get(side)!;
      if (seen > rank) return side;
    }
    return 0;
  }

  result(): ImageStats | null {
    if (this.count === 0) return null;
    return {
      minWidth: this.minWidth,
      maxWidth: this.maxWidth,
      minHeight: this.minHeight,
      maxHeight: this.maxHeight,
      medianShortSide: this.medianShortSide(),
      gray: this.gray,
      colour: this.count - this.gray,
      alpha: this.alpha,
      highBitDepth: this.highBitDepth,
      animated: this.animated,
    };
  }
}
