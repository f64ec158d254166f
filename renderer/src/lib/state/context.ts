import { getContext, setContext } from 'svelte';
import type { AppState } from './app.svelte.js';

/**
 * The app's state is made once in App.svelte and reached by screens through
 * context rather than props drilled through every level.
 */
const KEY = Symbol('adjoin-app');

export function provideApp(app: AppState): void {
  setContext(KEY, app);
}

export function useApp(): AppState {
  const app = getContext<AppState | undefined>(KEY);
  if (app === undefined) throw new Error('useApp() outside the App component: the state is provided by App.svelte');
  return app;
}
