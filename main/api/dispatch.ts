import { API_REQUESTS, isApiCall, type ApiResult } from '../../shared/api.js';
import { serializeError } from '../../shared/errors.js';
import type { ApiHandlers } from './handlers.js';

/**
 * The one door into the API: the call name must be in the contract and the
 * request must decode against it before a handler runs. Errors come back as
 * data (Electron forwards only a thrown error's message), without stacks.
 */
export async function dispatch(handlers: ApiHandlers, name: unknown, req: unknown): Promise<ApiResult<unknown>> {
  if (!isApiCall(name)) {
    const shown = typeof name === 'string' ? name.slice(0, 80) : typeof name;
    return { ok: false, error: { name: 'ApiError', code: 'unknown-call', message: `there is no API call '${shown}'` } };
  }
  let request: unknown;
  try {
    request = API_REQUESTS[name](req ?? {}, name);
  } catch (e) {
    return { ok: false, error: { name: 'ApiError', code: 'bad-request', message: (e as Error).message } };
  }
  try {
    const handler = handlers[name] as (r: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(request) };
  } catch (e) {
    const { stack: _stack, ...error } = serializeError(e);
    return { ok: false, error };
  }
}
