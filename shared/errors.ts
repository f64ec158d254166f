/**
 * An error in something the user chose or supplied (a setting, a file, a folder).
 * `field` names the setting or path at fault so every front end can point at it.
 * The CLI turns these into a one-line message and exit code 2.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Errors cross process and IPC boundaries as plain data. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  field?: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof InputError) {
    return { name: error.name, message: error.message, field: error.field, code: 'input' };
  }
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack !== undefined ? { stack: error.stack } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

/** Compile-time exhaustiveness check for discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
