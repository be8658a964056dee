import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { shortSocketPath } from "../fs/long-socket-path.js";
import { Endpoint as EndpointService } from "../gen/kuasar/endpoint/v1/endpoint_pb.js";
import type { Logger } from "../log/logger.js";
import { TtrpcClient } from "../ttrpc/client.js";
import { serviceClient, type ServiceClient } from "../ttrpc/service.js";

/** Socket names inside kuasard's state dir. */
export const ENDPOINT_SOCKET = "endpoint.sock";
export const BACKEND_SOCKET = "kuasard.sock";

/**
 * Where one of those sockets is bound and dialled: `<stateDir>/<name>`, or its short
 * name (see {@link shortSocketPath}) when --state-dir is too long for `sun_path`.
 */
export function stateSocketPath(stateDir: string, name: string): string {
  return shortSocketPath(join(stateDir, name));
}

const endpointMain = fileURLToPath(new URL("../cli/kuasar-endpoint.js", import.meta.url));

/** A connection to the running kuasar-endpoint's control API. */
export interface EndpointHandle {
  api: ServiceClient<typeof EndpointService>;
  client: TtrpcClient;
  pid: number;
  /** True when this call started it (false: it was already running, e.g. after a kuasard restart). */
  started: boolean;
}

/**
 * Connects to kuasar-endpoint in `stateDir`, starting it first when none runs.
 * The endpoint is started detached (own session, stdio to a log file), so it
 * outlives this process: that is its whole point.
 */
export async function ensureEndpoint(stateDir: string, logLevel: string, log: Logger): Promise<EndpointHandle> {
  const control = stateSocketPath(stateDir, ENDPOINT_SOCKET);
  const existing = await TtrpcClient.connect(control, { timeoutMs: 2000 }).catch(() => undefined);
  if (existing) {
    const api = serviceClient(existing, EndpointService);
    const st = await api.status({}, { timeoutMs: 5000 });
    log.info({ endpoint_pid: st.pid }, "attached to running kuasar-endpoint");
    return { api, client: existing, pid: st.pid, started: false };
  }
  const logFd = openSync(join(stateDir, "endpoint.log"), "a", 0o600);
  const child = spawn(process.execPath, [endpointMain, "--control", control, "--backend", stateSocketPath(stateDir, BACKEND_SOCKET), "--log-level", logLevel], {
    detached: true,
    stdio: ["ignore", logFd, logFd, "pipe"],
  });
  closeSync(logFd);
  const ready = await readLine(child.stdio[3] as Readable, 10_000).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw new RuntimeError(Code.Unavailable, `kuasar-endpoint did not start: ${(err as Error).message} (see ${join(stateDir, "endpoint.log")})`);
  });
  child.unref();
  (child.stdio[3] as Readable).destroy();
  const pid = Number(/^ready (\d+)/.exec(ready)?.[1] ?? child.pid);
  const client = await TtrpcClient.connect(control, { timeoutMs: 5000 });
  log.info({ endpoint_pid: pid }, "started kuasar-endpoint");
  return { api: serviceClient(client, EndpointService), client, pid, started: true };
}

function readLine(stream: Readable, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no readiness line within ${timeoutMs} ms`)), timeoutMs);
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl));
      }
    });
    stream.on("end", () => {
      clearTimeout(timer);
      reject(new Error("exited before it was ready"));
    });
  });
}
