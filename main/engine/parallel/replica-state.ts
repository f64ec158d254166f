import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../optim.js';

/** A tensor's values as they cross to another thread. */
interface Values {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Everything that must be equal on every replica before a step: the variables and the optimizers' state. */
export interface ReplicaState {
  variables: Values[];
  optimizers: Array<{ steps: number; slots: Values[] }>;
}

const valuesOf = (name: string, t: tf.Tensor): Values => ({ name, shape: [...t.shape], data: t.dataSync() as Float32Array });

/** The leader's state, copied out of its tensors. */
export function captureState(variables: ReadonlyMap<string, tf.Variable>, optimizers: readonly Optimizer[]): ReplicaState {
  return {
    variables: [...variables].map(([name, v]) => valuesOf(name, v)),
    optimizers: optimizers.map((o) => {
      const { steps, slots } = o.state();
      return { steps, slots: [...slots].map(([name, v]) => valuesOf(name, v)) };
    }),
  };
}

/** Makes a replica's variables and optimizers the leader's. */
export function restoreState(state: ReplicaState, variables: ReadonlyMap<string, tf.Variable>, optimizers: readonly Optimizer[]): void {
  if (state.variables.length !== variables.size || state.optimizers.length !== optimizers.length) {
    throw new Error('the replica was built for another network than its leader');
  }
  for (const v of state.variables) {
    const target = variables.get(v.name);
    if (target === undefined || target.shape.join('x') !== v.shape.join('x'))
      throw new Error(`the replica has no variable ${v.name} of shape ${v.shape.join('×')}`);
    tf.tidy(() => target.assign(tf.tensor(v.data, v.shape, 'float32')));
  }
  state.optimizers.forEach((o, i) => {
    const slots = new Map(o.slots.map((s) => [s.name, tf.tensor(s.data, s.shape, 'float32')]));
    optimizers[i]!.restore(o.steps, slots);
    tf.dispose([...slots.values()]);
  });
}
