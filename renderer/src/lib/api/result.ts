import { ApiError, type ApiResult } from '../../../../shared/api.js';
import type { SerializedError } from '../../../../shared/errors.js';

/**
 * The envelope every response comes in, checked where it enters the
 * renderer (docs/ARCHITECTURE.md, "Conventions"). The value inside is the
 * main side's own typed response; the envelope is what a transport could
 * garble.
 */

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function serializedError(v: unknown): SerializedError {
  if (isRecord(v) && typeof v.message === 'string') {
    return {
      name: typeof v.name === 'string' ? v.name : 'Error',
      message: v.message,
      ...(typeof v.code === 'string' ? { code: v.code } : {}),
      ...(typeof v.field === 'string' ? { field: v.field } : {}),
    };
  }
  return { name: 'ProtocolError', message: 'the app answered with an error it could not describe' };
}

export function isApiResult(v: unknown): v is ApiResult<unknown> {
  return isRecord(v) && (v.ok === true ? 'value' in v : v.ok === false && isRecord(v.error));
}

/** The value of an ok result; throws ApiError for an error result or a malformed envelope. */
export function unwrap<T>(result: unknown, call: string): T {
  if (!isApiResult(result)) {
    throw new ApiError({ name: 'ProtocolError', message: `the answer to ${call} was not a result envelope` });
  }
  if (result.ok) return result.value as T;
  throw new ApiError(serializedError(result.error));
}

/** An ApiError for a failure of the transport itself (no answer from the main side). */
export function transportError(message: string, name = 'ConnectionError'): ApiError {
  return new ApiError({ name, message });
}
