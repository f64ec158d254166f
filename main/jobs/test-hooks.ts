import type { TestHooks } from './job-spec.js';

/**
 * Test hooks that hold a real run at a step while a test does something to
 * the history or the server (locks it, fills its disk, sends hostile
 * traffic), so runs need not be long to be caught mid-training; or abort
 * its process as a CUDA fault would. Read from the environment only under
 * ADJOIN_TEST_HOOKS=1; never set in normal use.
 */
export function testHooksFromEnv(env: NodeJS.ProcessEnv): TestHooks | undefined {
  if (env['ADJOIN_TEST_HOOKS'] !== '1') return undefined;
  const abortAt = Number(env['ADJOIN_TEST_ABORT_AT_STEP'] ?? NaN);
  const holdAt = Number(env['ADJOIN_TEST_HOLD_AT_STEP'] ?? NaN);
  const releaseFile = env['ADJOIN_TEST_RELEASE_FILE'];
  const hooks: TestHooks = {
    ...(Number.isInteger(abortAt) ? { abortAtStep: abortAt } : {}),
    ...(Number.isInteger(holdAt) && releaseFile !== undefined && releaseFile !== '' ? { hold: { atStep: holdAt, releaseFile } } : {}),
  };
  return Object.keys(hooks).length === 0 ? undefined : hooks;
}

/** The message a held run emits (as a `log` event) when it starts waiting: tests wait for it. */
export function heldMessage(step: number): string {
  return `test hook: holding before step ${step}`;
}
