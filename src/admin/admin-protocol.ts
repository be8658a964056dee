import { Code, codeName } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/**
 * kuasard's admin socket (`<state dir>/admin.sock`, 0600: root only) speaks one JSON
 * request line and answers one JSON reply line per connection. kuasar-ctl is its client.
 */
export const ADMIN_SOCKET = "admin.sock";

/** Longest request line, in bytes. */
export const MAX_ADMIN_REQUEST_BYTES = 64 << 10;

/** What kuasar-ctl can ask. */
export type AdminRequest =
  | { op: "status" }
  | { op: "ps" }
  | { op: "inspect"; sandbox: string }
  | { op: "exec"; sandbox: string; container?: string; argv: string[]; timeoutMs: number };

/** The answer: a result, or an error with its gRPC code. */
export type AdminReply<T = unknown> = { ok: true; result: T } | { ok: false; error: string; code: number; codeName: string };

/** Most time an exec may be given, in ms. */
export const MAX_EXEC_TIMEOUT_MS = 3_600_000;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and checks one request line; InvalidArgument saying what is wrong otherwise. */
export function parseAdminRequest(line: string): AdminRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `request is not JSON: ${(err as Error).message}`);
  }
  if (!isObj(v)) throw new RuntimeError(Code.InvalidArgument, "request must be a JSON object with an op");
  const op = v["op"];
  switch (op) {
    case "status":
    case "ps":
      return { op };
    case "inspect":
      return { op, sandbox: idField(v, "sandbox") };
    case "exec": {
      const argv = v["argv"];
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== "string")) throw new RuntimeError(Code.InvalidArgument, "exec: argv must be a non-empty array of strings");
      const t = v["timeoutMs"] ?? 60_000;
      if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > MAX_EXEC_TIMEOUT_MS) throw new RuntimeError(Code.InvalidArgument, `exec: timeoutMs must be an integer from 1 to ${MAX_EXEC_TIMEOUT_MS}`);
      const container = v["container"] === undefined ? undefined : idField(v, "container");
      return { op, sandbox: idField(v, "sandbox"), ...(container !== undefined ? { container } : {}), argv: argv as string[], timeoutMs: t };
    }
    default:
      throw new RuntimeError(Code.InvalidArgument, `unknown op ${JSON.stringify(op)} (known: status, ps, inspect, exec)`);
  }
}

function idField(v: Record<string, unknown>, key: string): string {
  const s = v[key];
  if (typeof s !== "string" || s === "" || s.length > 256) throw new RuntimeError(Code.InvalidArgument, `${key} must be a non-empty string of at most 256 characters`);
  return s;
}

/** The reply line for an error. */
export function errorReply(err: unknown): AdminReply<never> {
  const e = RuntimeError.from(err);
  return { ok: false, error: e.message, code: e.code, codeName: codeName(e.code) };
}
