// How every `npm run` entry point ends: main's number is the exit code; a UsageError (bad arguments) is exit 2 with
// "error: <message>"; any other error is exit 1 with its message, or its stack where a crash needs one to be read.
import { UsageError } from "../notebook";

export function runCli(main: () => Promise<number> | number, opts: { stack?: boolean } = {}): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(code),
      (e: unknown) => {
        if (e instanceof UsageError) {
          process.stderr.write(`error: ${e.message}\n`);
          process.exit(2);
        }
        const err = e as Error;
        process.stderr.write(`${(opts.stack ? err.stack : err.message) ?? e}\n`);
        process.exit(1);
      },
    );
}
