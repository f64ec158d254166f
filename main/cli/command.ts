/** What a command may touch of the outside world (tests pass their own). */
export interface CommandIo {
  out: (s: string) => void;
  err: (s: string) => void;
  errIsTty: boolean;
  /** Registers what the first Ctrl-C does; a second one quits at once. */
  onInterrupt: (handler: () => void) => void;
}

export interface Command {
  name: string;
  /** One or more usage lines, shown by `adjoin help`. */
  usage: string;
  /** Returns the exit code: 0 done, 1 failed, 2 bad input, 130 stopped by the user. */
  run(argv: string[], io: CommandIo): number | Promise<number>;
}
