import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/api.js';
import type { AdjoinBridge } from '../../renderer/src/lib/api/bridge.js';
import { IpcClient } from '../../renderer/src/lib/api/ipc-client.js';

function bridge(answer: (name: string, req: unknown) => Promise<unknown>): AdjoinBridge & { listeners: Map<string, (p: unknown) => void> } {
  const listeners = new Map<string, (p: unknown) => void>();
  return {
    listeners,
    call: (name, req) => answer(name, req) as never,
    on: (event, handler) => {
      listeners.set(event, handler);
      return () => listeners.delete(event);
    },
  };
}

describe('IpcClient', () => {
  it('unwraps an ok result', async () => {
    const client = new IpcClient(bridge(async (name, req) => ({ ok: true, value: { name, req } })));
    await expect(client.call('runs:show', { runId: 3 })).resolves.toEqual({ name: 'runs:show', req: { runId: 3 } });
  });
  it('rejects with ApiError for an error result', async () => {
    const client = new IpcClient(
      bridge(async () => ({ ok: false, error: { name: 'InputError', message: 'alpha must be one of 2, 4, 8, 16, got 3', field: 'alpha' } })),
    );
    const e = await client.call('runs:start', {} as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).field).toBe('alpha');
  });
  it('turns a rejected invoke into an ApiError naming the call', async () => {
    const client = new IpcClient(bridge(async () => Promise.reject(new Error('no handler'))));
    await expect(client.call('app:info', {})).rejects.toThrow(/app:info failed in the app: no handler/);
  });
  it('subscribes and unsubscribes through the bridge', () => {
    const b = bridge(async () => ({ ok: true, value: null }));
    const seen: number[] = [];
    const off = new IpcClient(b).on('runs:changed', (p) => seen.push(p.runId));
    b.listeners.get('runs:changed')?.({ runId: 5 });
    off();
    expect(seen).toEqual([5]);
    expect(b.listeners.has('runs:changed')).toBe(false);
  });
});
