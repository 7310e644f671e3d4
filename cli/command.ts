/** One `meterproof <command>`: a summary for the top-level help, and a runner returning the exit status. */
export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

/** Exit status for "cannot run": bad arguments, unreachable service, refused credentials. */
export const EXIT_USAGE = 2;

export class UsageError extends Error {}
