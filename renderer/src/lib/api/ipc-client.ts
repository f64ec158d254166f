import type { ApiCall, ApiClient, ApiEvent, ApiEvents, ApiRequest, ApiResponse } from '../../../../shared/api.js';
import type { AdjoinBridge } from './bridge.js';
import { transportError, unwrap } from './result.js';

/** The Electron transport: the preload's contextBridge functions. */
export class IpcClient implements ApiClient {
  constructor(private readonly bridge: AdjoinBridge) {}

  async call<K extends ApiCall>(name: K, req: ApiRequest<K>): Promise<ApiResponse<K>> {
    let result: unknown;
    try {
      result = await this.bridge.call(name, req);
    } catch (error) {
      // Electron forwards only the message of a rejected invoke.
      throw transportError(`${name} failed in the app: ${error instanceof Error ? error.message : String(error)}`, 'IpcError');
    }
    return unwrap<ApiResponse<K>>(result, name);
  }

  on<E extends ApiEvent>(name: E, handler: (payload: ApiEvents[E]) => void): () => void {
    return this.bridge.on(name, (payload) => handler(payload as ApiEvents[E]));
  }
}
