/**
 * SIGINT and SIGTERM handling of train.js. Outside training a signal ends the process at
 * once. During training the first signal makes fit() stop after the current batch, and a
 * second signal ends the process at once, without waiting for a checkpoint write to finish.
 */

/** Exit statuses as a shell reports a process killed by the signal: 128 + signal number. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

const SIGNALS = Object.keys(SIGNAL_EXIT_CODES) as StopSignal[];

export class InterruptHandler {
  private stop: (() => void) | null = null;
  private received: StopSignal | null = null;
  private readonly listeners = new Map<StopSignal, () => void>();

  constructor(private readonly stderr: NodeJS.WritableStream) {}

  /** The signal that stopped training, or null when none arrived during training. */
  get signal(): StopSignal | null {
    return this.received;
  }

  install(): void {
    for (const signal of SIGNALS) {
      const listener = () => this.handle(signal);
      this.listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  uninstall(): void {
    for (const [signal, listener] of this.listeners) process.off(signal, listener);
    this.listeners.clear();
  }

  /** Makes the first signal call `stop` instead of exiting, until endTraining(). */
  beginTraining(stop: () => void): void {
    this.stop = stop;
  }

  endTraining(): void {
    this.stop = null;
  }

  private handle(signal: StopSignal): void {
    if (this.stop === null || this.received !== null) {
      // stderr is synchronous for files, terminals and pipes on Linux, so the line is out before the exit.
      this.stderr.write(`train.js: received ${signal}, exiting at once.\n`);
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
    this.received = signal;
    this.stderr.write(`train.js: received ${signal}, stopping after the current batch. Send the signal again to exit at once.\n`);
    this.stop();
  }
}

/** Quotes `arg` for a POSIX shell where it contains characters the shell would interpret. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Returns the command line of this process with `--resume DIR` in place of any --resume
 * option in `argv` (the arguments after the script path).
 */
export function resumeCommand(argv: string[], dir: string): string {
  const args: string[] = [];
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  for (let i = 0; i < end; i++) {
    if (argv[i] === '--resume') i++;
    else if (!argv[i].startsWith('--resume=')) args.push(argv[i]);
  }
  // Options go before a '--', which ends option parsing.
  args.push('--resume', dir, ...argv.slice(end));
  return [process.execPath, ...process.execArgv, process.argv[1], ...args].map(shellQuote).join(' ');
}
