/** What the host may ask of a running job between two steps: stop, or checkpoint then stop (the app quitting). */
export type StopRequest = 'cancel' | 'checkpoint-and-stop';
