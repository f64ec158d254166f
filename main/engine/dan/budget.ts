import * as tf from '@tensorflow/tfjs';
import type { SearchBudget } from '../../../shared/dan.js';

/**
 * The budget penalty ρ·max(0, |E/T − 1| − tol) on expected MACs E, as a
 * tensor differentiable in E. Zero inside the band, so a search on budget
 * feels only the accuracy terms; outside it a constant pull of ρ/T per MAC
 * toward the target (TuNAS's absolute penalty with a dead band).
 */
export function budgetPenaltyTensor(expectedMacs: tf.Scalar, budget: SearchBudget): tf.Scalar {
  return tf.tidy(() => {
    const off = tf.abs(tf.sub(tf.div(expectedMacs, budget.targetMacs), 1));
    return tf.mul(tf.relu(tf.sub(off, budget.tolerance)), budget.weight) as tf.Scalar;
  });
}
