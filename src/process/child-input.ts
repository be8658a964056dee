import type { Writable } from "node:stream";

/**
 * Gives a child process its whole input and closes its stdin. A child that exits before
 * reading all of it makes the write fail (EPIPE), which a stream reports as an 'error'
 * event: unheard, that event would end the daemon. It is not this call's to report: the
 * child's exit status (and stderr) say what happened.
 */
export function endInput(stdin: Writable | null | undefined, input: string | Uint8Array): void {
  if (!stdin) return;
  stdin.on("error", () => {});
  stdin.end(input);
}
