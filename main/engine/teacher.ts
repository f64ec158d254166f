import { existsSync } from 'node:fs';
import { trainConfig } from '../../shared/config-codecs.js';
import { anything, obj, oneOf, optional } from '../../shared/decode.js';
import { dataInfo } from '../../shared/event-codecs.js';
import { InputError } from '../../shared/errors.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { DistillConfig } from '../../shared/train-config.js';
import { loadNetwork } from './bundle.js';
import { dataFingerprint } from './data/fingerprint.js';
import type { TrainingData } from './data/types.js';
import type { NetworkParams } from './params.js';

/** A kd run's teacher: a trained network, run in inference mode. */
export interface Teacher {
  graph: ModelGraph;
  params: NetworkParams;
}

/** What a standard run's bundle says about itself (see run-outputs.ts). */
const standardBundle = obj({ kind: oneOf(['standard'] as const), config: trainConfig, data: dataInfo, cost: optional(anything) });

/**
 * A kd run's teacher: the network of a finished standard run, trained on the
 * same images at the same input size and classes, else refused with the
 * difference named.
 */
export function loadTeacher(config: DistillConfig, data: TrainingData): Teacher {
  const { kd } = config;
  const who = kd.teacherRun === null ? `the teacher ${kd.teacher}` : `teacher run ${kd.teacherRun}`;
  if (!existsSync(kd.teacher)) throw new InputError(`${who} has no trained network at ${kd.teacher}`, 'teacher');
  const bundle = loadNetwork(kd.teacher);
  const refuse = (why: string): never => {
    bundle.params.dispose();
    throw new InputError(`${who} cannot teach this run: ${why}`, 'teacher');
  };
  let t: ReturnType<typeof standardBundle>;
  try {
    t = standardBundle(bundle.extra, kd.teacher);
  } catch {
    return refuse('it is not a standard run (kd distils the full network of a standard run)');
  }
  const tc = t.config.model;
  const td = t.data;
  const m = config.model;
  if (tc.inputSize !== m.inputSize) refuse(`it takes ${tc.inputSize}×${tc.inputSize} images, this run ${m.inputSize}×${m.inputSize}`);
  if (tc.channels !== m.channels) refuse(`it takes ${tc.channels} channel(s), this run ${m.channels}`);
  if (td.classes.join('\n') !== data.classes.join('\n')) refuse(`its classes are ${td.classes.join(', ')}; this data's are ${data.classes.join(', ')}`);
  const fingerprint = dataFingerprint(data);
  if (td.fingerprint !== undefined && td.fingerprint !== fingerprint) {
    refuse(`it was trained on other images (${td.name}: ${td.trainCount} train / ${td.valCount} val; this data: ${data.train.count} / ${data.val.count})`);
  }
  return { graph: bundle.graph, params: bundle.params };
}
