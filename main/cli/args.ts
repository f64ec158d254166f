import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../../shared/errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a subcommand's arguments strictly; unknown flags are input errors. */
export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    const message = (e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    const [first, ...rest] = message.split('\n');
    // `--epochs -1`: parseArgs takes -1 for an option and says how to pass it; keep that, on the same line.
    const hint = rest.find((l) => l.startsWith('To specify an option argument starting with a dash'));
    const flag = /^Option '(--[\w-]+)'/.exec(first ?? '')?.[1];
    const value = flag === undefined ? undefined : argv[argv.indexOf(flag) + 1];
    const example = flag !== undefined && value !== undefined ? `${flag}=${value}` : null;
    const said = hint === undefined ? '' : example !== null ? ` (to pass a value starting with a dash, write ${example})` : ` (${hint.replace(/\.$/, '')})`;
    throw new InputError(said === '' ? first! : `${first!.replace(/\.$/, '')}${said}`, 'arguments');
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
