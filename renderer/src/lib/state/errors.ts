import { ApiError } from '../../../../shared/api.js';
import { InputError } from '../../../../shared/errors.js';

/** An error as a form shows it: the message, and the field to highlight if the main side named one. */
export interface ErrorInfo {
  message: string;
  field: string | null;
}

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof ApiError) return { message: error.message, field: error.field ?? null };
  if (error instanceof InputError) return { message: error.message, field: error.field };
  if (error instanceof Error) return { message: error.message, field: null };
  return { message: String(error), field: null };
}

/** Fields of the Model screen, as the main side names them in errors (InputError.field). */
export const MODEL_FIELDS = ['arch', 'stem', 'inputSize', 'size', 'channels', 'classes', 'width', 'alpha', 'mode', 'space', 'gamma', 'thenTrain'] as const;
/** Fields of the Train screen. */
export const TRAIN_FIELDS = ['epochs', 'batch', 'lr', 'lambda', 'c', 'smallCe', 'seed', 'limitTrain', 'weightDecay', 'checkpointEvery'] as const;

export function isModelField(field: string | null): boolean {
  return field !== null && (MODEL_FIELDS as readonly string[]).includes(field);
}
