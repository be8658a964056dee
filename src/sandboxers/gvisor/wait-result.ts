/** Exit status reported when the waiter could not tell (the sandbox died with the container). */
export const UNKNOWN_EXIT_STATUS = 255;

/**
 * The exit status in what `runsc wait` printed (`{"id":"c1","exitStatus":42}`,
 * 128+signal for a killed process); {@link UNKNOWN_EXIT_STATUS} when it printed none.
 */
export function parseWaitResult(text: string): number {
  for (const line of text.trim().split("\n").reverse()) {
    try {
      const v = (JSON.parse(line) as { exitStatus?: unknown }).exitStatus;
      if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 255) return v;
    } catch {
      /* not the result line */
    }
  }
  return UNKNOWN_EXIT_STATUS;
}
