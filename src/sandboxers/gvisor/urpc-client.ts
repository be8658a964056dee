import type { Socket } from "node:net";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { connectUnix } from "../../fs/long-socket-path.js";

/**
 * One call over a runsc sandbox's control socket (gVisor's urpc: a JSON
 * object `{"method","arg"}` each way on a stream socket, one call at a time
 * per connection). A fresh connection per call: a Wait blocks its connection
 * until the container exits, and many are outstanding at once.
 */
export function urpcCall<T>(socketPath: string, method: string, arg: unknown, opts: UrpcCallOptions = {}): Promise<T> {
  const { signal } = opts;
  return new Promise<T>((resolve, reject) => {
    const sock: Socket = connectUnix(socketPath);
    if (opts.unref) sock.unref();
    let text = "";
    const fail = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    const onAbort = () => fail(new RuntimeError(Code.Canceled, `urpc ${method}: cancelled`));
    signal?.addEventListener("abort", onAbort, { once: true });
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify({ method, arg })));
    sock.on("data", (chunk: string) => {
      text += chunk;
      const reply = parseReply(text);
      if (!reply) return;
      signal?.removeEventListener("abort", onAbort);
      sock.destroy();
      if (reply.success) resolve(reply.result as T);
      else reject(new RuntimeError(Code.Unknown, `urpc ${method}: ${reply.err || "failed"}`));
    });
    sock.on("error", (err) => fail(new RuntimeError(Code.Unavailable, `urpc ${method} on ${socketPath}: ${err.message}`, { cause: err })));
    sock.on("close", () => fail(new RuntimeError(Code.Unavailable, `urpc ${method}: the sandbox closed its control socket without a reply`)));
  });
}

/** Options of {@link urpcCall}. */
export interface UrpcCallOptions {
  signal?: AbortSignal;
  /** The call does not keep the process alive (a Wait held open for as long as a container runs). */
  unref?: boolean;
}

interface UrpcReply {
  success: boolean;
  err: string;
  result: unknown;
}

/** The reply once `text` holds a whole JSON object (the server writes exactly one per call). */
function parseReply(text: string): UrpcReply | undefined {
  try {
    return JSON.parse(text) as UrpcReply;
  } catch {
    return undefined; // not all of it yet
  }
}

/** A Linux wait status (as gVisor's containerManager.Wait returns it) as an exit status: the code, or 128+signal. */
export function exitStatusOfWaitStatus(ws: number): number {
  const signal = ws & 0x7f;
  return signal === 0 ? (ws >> 8) & 0xff : 128 + signal;
}
