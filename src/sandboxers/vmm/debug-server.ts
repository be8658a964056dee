import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { RuntimeError } from "../../errors/runtime-error.js";
import { listenUnix } from "../../fs/long-socket-path.js";
import type { Logger } from "../../log/logger.js";

/** Name of the troubleshooting socket in the vmm sandboxer's state dir (mode 0600: root only). */
export const DEBUG_SOCKET = "debug.sock";

/** One request: run `argv` in the guest of `sandbox`. */
export interface DebugExecRequest {
  sandbox: string;
  argv: string[];
  timeoutMs?: number;
}

/** The reply: how the command ended, or why it could not run. */
export type DebugExecReply = { status: number; stdout: string; stderr: string } | { error: string; code: number };

/**
 * Serves `kuasar-ctl exec`: one JSON request line, one JSON reply line, per
 * connection. Only root can connect (the socket is 0600 in a root-owned dir).
 */
export function serveDebug(path: string, exec: (r: DebugExecRequest) => Promise<{ status: number; stdout: string; stderr: string }>, log: Logger): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((s: Socket) => {
    let buf = "";
    s.setEncoding("utf8");
    s.on("error", () => {});
    s.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) {
        if (buf.length > 1 << 20) s.destroy();
        return;
      }
      s.removeAllListeners("data");
      let req: DebugExecRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as DebugExecRequest;
        if (typeof req.sandbox !== "string" || !Array.isArray(req.argv) || req.argv.some((a) => typeof a !== "string")) throw new Error("want {sandbox, argv}");
      } catch (err) {
        s.end(`${JSON.stringify({ error: `bad request: ${(err as Error).message}`, code: 3 } satisfies DebugExecReply)}\n`);
        return;
      }
      log.info({ sandbox_id: req.sandbox, argv: req.argv }, "debug exec in the guest");
      exec(req).then(
        (r) => s.end(`${JSON.stringify(r satisfies DebugExecReply)}\n`),
        (err: unknown) => {
          const e = RuntimeError.from(err);
          s.end(`${JSON.stringify({ error: e.message, code: e.code } satisfies DebugExecReply)}\n`);
        },
      );
    });
  });
  // The state dir may be longer than sun_path allows.
  return listenUnix(server, path).then(() => {
    chmodSync(path, 0o600);
    return server;
  });
}
