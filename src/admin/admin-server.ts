import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { listenUnix } from "../fs/long-socket-path.js";
import type { Logger } from "../log/logger.js";
import { errorReply, MAX_ADMIN_REQUEST_BYTES, parseAdminRequest, type AdminReply, type AdminRequest } from "./admin-protocol.js";

/** Most admin connections at once; more are closed at accept. */
const MAX_ADMIN_CONNECTIONS = 16;
/** A connection that has not sent its whole request line by then is closed, in ms. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The running admin socket. */
export interface AdminServer {
  close(): Promise<void>;
}

/**
 * Serves the admin socket (0600): one request line in, one reply line out, then the
 * connection ends. Bad input (not JSON, unknown op, oversize, too slow) gets an
 * InvalidArgument reply or a closed connection; it never stops the server.
 */
export async function serveAdmin(path: string, handle: (r: AdminRequest) => Promise<unknown>, log: Logger): Promise<AdminServer> {
  rmSync(path, { force: true });
  const open = new Set<Socket>();
  // Half-open: a client that sends its line and shuts its side still gets the reply.
  const server: Server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    if (open.size >= MAX_ADMIN_CONNECTIONS) return void s.destroy();
    open.add(s);
    s.once("close", () => open.delete(s));
    s.on("error", () => {});
    s.setTimeout(REQUEST_TIMEOUT_MS, () => s.destroy());
    const chunks: Buffer[] = [];
    let size = 0;
    const answer = (reply: AdminReply) => {
      if (!s.destroyed) s.end(`${JSON.stringify(reply)}\n`);
    };
    const onData = (d: Buffer) => {
      const nl = d.indexOf(0x0a);
      chunks.push(nl < 0 ? d : d.subarray(0, nl));
      size += nl < 0 ? d.length : nl;
      if (size > MAX_ADMIN_REQUEST_BYTES) {
        s.off("data", onData);
        return answer(errorReply(new RuntimeError(Code.InvalidArgument, `request line longer than ${MAX_ADMIN_REQUEST_BYTES} bytes`)));
      }
      if (nl < 0) return;
      s.off("data", onData);
      s.setTimeout(0); // an exec may run long; the reply ends the connection
      let req: AdminRequest;
      try {
        req = parseAdminRequest(Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        return answer(errorReply(err));
      }
      if (req.op === "exec") log.info({ sandbox_id: req.sandbox, container_id: req.container, argv: req.argv }, "admin exec");
      else log.debug({ op: req.op }, "admin request");
      handle(req).then(
        (result) => answer({ ok: true, result }),
        (err: unknown) => answer(errorReply(err)),
      );
    };
    s.on("data", onData);
    s.once("end", () => {
      if (s.listenerCount("data") > 0) answer(errorReply(new RuntimeError(Code.InvalidArgument, "connection ended before a whole request line (JSON and a newline)")));
    });
  });
  server.maxConnections = MAX_ADMIN_CONNECTIONS * 2;
  await listenUnix(server, path); // the state dir may be longer than sun_path allows
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
