import type { ApiEvent, ApiEvents } from '../../shared/api.js';
import type { ManagerEvent } from '../jobs/host/manager.js';

/** A job manager's event as the API names it (both transports send these). */
export function toApiEvent(e: ManagerEvent): { event: ApiEvent; payload: ApiEvents[ApiEvent] } {
  switch (e.type) {
    case 'run:event':
      return { event: 'run:event', payload: { runId: e.runId, event: e.event } };
    case 'runs:changed':
      return { event: 'runs:changed', payload: { runId: e.runId } };
    case 'dataset:progress':
      return { event: 'dataset:progress', payload: { path: e.path, progress: e.progress } };
    case 'sweep:progress':
      return { event: 'sweep:progress', payload: e.progress };
    case 'sweeps:changed':
      return { event: 'sweeps:changed', payload: { sweepId: e.sweepId, status: e.status } };
    case 'history:writes':
      return { event: 'history:writes', payload: e.state };
  }
}
