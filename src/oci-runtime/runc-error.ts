import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Turns runc's error text into a status code containerd understands. */
export function runcError(command: string, text: string, cause?: unknown): RuntimeError {
  const msg = extractMessage(text);
  const code = /does not exist|not found|no such/i.test(msg)
    ? Code.NotFound
    : /already exists/i.test(msg)
      ? Code.AlreadyExists
      : /not running|is stopped|already finished|process already/i.test(msg)
        ? Code.NotFound
        : /cannot|not paused|not in|invalid state/i.test(msg)
          ? Code.FailedPrecondition
          : Code.Unknown;
  return new RuntimeError(code, `runc ${command}: ${msg}`, { cause });
}

/** runc prints `time=... level=error msg="..."` or JSON log lines; keep just the message. */
export function extractMessage(text: string): string {
  const lines = text.trim().split("\n").filter(Boolean);
  const last = lines.at(-1) ?? "";
  try {
    const j = JSON.parse(last) as { msg?: string };
    if (j.msg) return j.msg;
  } catch {
    /* not JSON */
  }
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return m ? m[1]!.replace(/\\"/g, '"') : last || "failed";
}
