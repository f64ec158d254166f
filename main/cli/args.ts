import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../../shared/errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a subcommand's arguments strictly; unknown flags are input errors. */
export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    const message = (e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    throw new InputError(message.split('\n')[0]!, 'arguments');
  }
}

export function numberArg(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(`--${flag} must be a number, got '${value}'`, flag);
  return n;
}

export function intArg(value: string | undefined, flag: string, fallback: number): number {
  const n = numberArg(value, flag, fallback);
  if (!Number.isInteger(n)) throw new InputError(`--${flag} must be an integer, got '${value}'`, flag);
  return n;
}

export function optionalIntArg(value: string | undefined, flag: string): number | null {
  if (value === undefined) return null;
  const n = intArg(value, flag, 0);
  if (n < 1) throw new InputError(`--${flag} must be at least 1, got ${n}`, flag);
  return n;
}

export function choiceArg<T extends string>(value: string | undefined, flag: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new InputError(`--${flag} must be one of ${choices.join(', ')}, got '${value}'`, flag);
  }
  return value as T;
}
