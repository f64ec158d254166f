import * as tf from '@tensorflow/tfjs';

/** ε of the paper's KL (section 4), against log 0 and division by zero. */
export const KL_EPSILON = 1e-6;

/** Mean cross-entropy of integer labels against logits. */
export function crossEntropy(labels: tf.Tensor1D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(labels, logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1)));
  });
}

/**
 * KL(p‖q) = Σ p·log((p+ε)/(q+ε)), averaged over the batch, with p and q the
 * softmaxes of the two logits. No stop-gradient: p learns from q too, which is
 * the regulariser of the paper's section 6.
 */
export function klDivergence(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.softmax(pLogits);
    const q = tf.softmax(qLogits);
    const ratio = tf.sub(tf.log(tf.add(p, KL_EPSILON)), tf.log(tf.add(q, KL_EPSILON)));
    return tf.mean(tf.sum(tf.mul(p, ratio), 1));
  });
}

export interface AdjoinedLossTerms {
  total: tf.Scalar;
  ce: tf.Scalar;
  kl: tf.Scalar;
  smallCe: tf.Scalar | null;
}

/**
 * The adjoined loss L = CE(y, p) + c·λ(t)·KL(p‖q) + β·CE(y, q) (paper eq. 3;
 * β = 0 is the paper's, β > 0 is our label loss on the small path).
 */
export function adjoinedLoss(
  labels: tf.Tensor1D,
  fullLogits: tf.Tensor2D,
  smallLogits: tf.Tensor2D,
  weight: { lambda: number; c: number; beta: number },
): AdjoinedLossTerms {
  const ce = crossEntropy(labels, fullLogits);
  const kl = klDivergence(fullLogits, smallLogits);
  let total = tf.add(ce, tf.mul(kl, weight.c * weight.lambda)) as tf.Scalar;
  let smallCe: tf.Scalar | null = null;
  if (weight.beta !== 0) {
    smallCe = crossEntropy(labels, smallLogits);
    total = tf.add(total, tf.mul(smallCe, weight.beta));
  }
  return { total, ce, kl, smallCe };
}

/**
 * Hinton's knowledge distillation: (1 − w)·CE(y, q) + w·T²·KL(softmax(p/T) ‖
 * softmax(q/T)), p the teacher's logits (constants), q the student's. T²
 * keeps the soft term's gradients on the scale of the hard one's.
 */
export function distillationLoss(
  labels: tf.Tensor1D,
  studentLogits: tf.Tensor2D,
  teacherLogits: tf.Tensor2D,
  o: { temperature: number; weight: number },
): { total: tf.Scalar; ce: tf.Scalar; kl: tf.Scalar } {
  const ce = crossEntropy(labels, studentLogits);
  const kl = klDivergence(tf.div(teacherLogits, o.temperature), tf.div(studentLogits, o.temperature));
  const total = tf.add(tf.mul(ce, 1 - o.weight), tf.mul(kl, o.weight * o.temperature * o.temperature)) as tf.Scalar;
  return { total, ce, kl };
}
