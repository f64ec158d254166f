import { searchConfig, trainConfig } from '../../shared/config-codecs.js';
import { anything, arr, bool, type Decoder, int, nullable, num, obj, optional, record, str } from '../../shared/decode.js';
import { backendInfo, cost, dataInfo, runOutputs } from '../../shared/event-codecs.js';
import type { SearchRecord } from '../../shared/history.js';

export { backendInfo, dataInfo, runOutputs, trainConfig };

/**
 * Decoders of the JSON the store keeps in text columns. What SQLite gives
 * back is checked once here; code above the store trusts the types.
 */

/** A DAN search job: its config (checked like a new one), the training epochs after it, and its answer. */
export const searchRecord: Decoder<SearchRecord> = obj({
  config: searchConfig,
  thenTrain: nullable(int),
  result: nullable(
    obj({
      alphas: record(int),
      cost: obj({ full: cost, small: cost }),
      // Issue 15's fields, absent in searches recorded before it.
      argmax: optional(obj({ alphas: record(int), cost })),
      projection: optional(
        nullable(
          obj({
            target: num,
            tolerance: num,
            withinBand: bool,
            moves: arr(obj({ group: str, from: int, to: int, macs: num, kl: num })),
          }),
        ),
      ),
      warnings: optional(arr(str)),
    }),
  ),
  epochs: optional(arr(obj({ epoch: int, tau: num, expectedMacs: num, target: nullable(num), penalty: num }))),
});

export const confusion: Decoder<number[][]> = arr(arr(int));

export const logits: Decoder<number[]> = arr(num);

export const jsonObject: Decoder<Record<string, unknown>> = record(anything);
