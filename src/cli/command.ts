/**
 * Shared command-line helpers: argument parsers for commander options, the UsageError that
 * ends a program with one line, and parsing that turns commander's errors into UsageErrors.
 */
import { type Command, CommanderError, InvalidArgumentError } from 'commander';

/** Raised for invalid command-line input; the CLI prints its message and exits with `exitCode`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Returns a parser that accepts integers from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}.`);
    }
    return n;
  };
}

export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected a non-empty path.');
  return value;
}

/** Rejects an option given twice, which would otherwise silently keep the last value. */
function rejectRepeatedOptions(argv: string[]): void {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const name = arg.split('=')[0].replace(/^--no-/, '--');
    if (seen.has(name)) throw new UsageError(`option '${name}' is given more than once; give it once.`, 2);
    seen.add(name);
  }
}

/**
 * Parses argv (without the node and script entries) with `command`. Throws UsageError: exit
 * code 2 with commander's message for invalid input, exit code 0 after commander wrote help.
 */
export function parseCommand(command: Command, argv: string[], write: { out: (s: string) => void }): Command {
  rejectRepeatedOptions(argv);
  command.exitOverride();
  command.configureOutput({ writeOut: write.out, writeErr: () => {} });
  try {
    command.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') throw new UsageError('', 0);
      throw new UsageError(error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim(), 2);
    }
    throw error;
  }
  return command;
}
