import { join } from "node:path";
import { connectUnix } from "../../fs/long-socket-path.js";
import { ADMIN_SOCKET, type AdminReply, type AdminRequest } from "../../admin/admin-protocol.js";

/** kuasard's state dir unless --state-dir (or --dir, the dir of a single-kind sandboxer) says otherwise. */
export const DEFAULT_STATE_DIR = "/run/kuasar";

/** An error reply of kuasard, with its gRPC code name. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly codeName: string,
  ) {
    super(message);
  }
}

/** Sends one request to kuasard's admin socket and returns its result (AdminError for an error reply). */
export function askAdmin<T>(stateDir: string, req: AdminRequest, timeoutMs = 30_000): Promise<T> {
  const path = join(stateDir, ADMIN_SOCKET);
  return new Promise<T>((resolve, reject) => {
    const s = connectUnix(path); // the state dir may be longer than sun_path allows
    let buf = "";
    const timer = setTimeout(() => s.destroy(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`${JSON.stringify(req)}\n`));
    s.on("data", (d: string) => (buf += d));
    s.on("end", () => {
      clearTimeout(timer);
      let reply: AdminReply<T>;
      try {
        reply = JSON.parse(buf) as AdminReply<T>;
      } catch {
        return reject(new Error(`${path}: no reply`));
      }
      if (reply.ok) resolve(reply.result);
      else reject(new AdminError(reply.error, reply.codeName));
    });
    s.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${path}: ${err.message} (is kuasard running with this --state-dir? are you root?)`));
    });
  });
}
