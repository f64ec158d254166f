import type { FunctionBuilder } from './wasm-assembler.js';

/**
 * Runs `tile(lanes)` over the output channels [0, o4 bytes) in tiles of four
 * lane vectors (16 channels), then one of two and one of one for the rest:
 * channel counts in fours. `ob` holds the tile's first byte.
 */
export function outputChannelTiles(f: FunctionBuilder, ob: number, o4: number, tile: (lanes: number) => void): void {
  f.const(0).set(ob);
  f.block().loop();
  // ob + 64 > o4: no whole tile of 16 left.
  f.get(o4).get(ob).const(64).add().ltU().brIf(1);
  tile(4);
  f.get(ob).const(64).add().set(ob);
  f.br(0).end().end();
  for (const lanes of [2, 1]) {
    f.get(ob)
      .const(16 * lanes)
      .add()
      .get(o4)
      .leU()
      .if();
    tile(lanes);
    f.get(ob)
      .const(16 * lanes)
      .add()
      .set(ob);
    f.end();
  }
}
