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
import { isAlive, killQuietly } from "../pod/pod.js";
import { TtrpcClient } from "../ttrpc/client.js";
import { pollUntil } from "../time/backoff.js";
import { serviceClient, type ServiceClient } from "../ttrpc/service.js";

/** Socket names inside kuasard's state dir. */
export const ENDPOINT_SOCKET = "endpoint.sock";
export const BACKEND_SOCKET = "kuasard.sock";

/** Where `npm run build` (`make -C native`) puts the endpoint, relative to this module in `dist/src/daemon/`. */
export const defaultEndpointBinary: string = fileURLToPath(new URL("../../../build/native/kuasar-endpoint", import.meta.url));

/**
 * Where one of those sockets is bound and dialled: `<stateDir>/<name>`, or its short
 * name (see {@link shortSocketPath}) when --state-dir is too long for `sun_path`.
 */
export function stateSocketPath(stateDir: string, name: string): string {
  return shortSocketPath(join(stateDir, name));
}

/** A connection to the running kuasar-endpoint's control API. */
export interface EndpointHandle {
  api: ServiceClient<typeof EndpointService>;
  client: TtrpcClient;
  pid: number;
  /** Pid of its custody process (keeps a copy of every socket; replaces a dead relay). */
  custodyPid: number;
  /** True when this call started it (false: it was already running, e.g. after a kuasard restart). */
  started: boolean;
}

/**
 * Connects to kuasar-endpoint in `stateDir`, starting it first when none runs.
 * The endpoint (build/native/kuasar-endpoint: a relay and its custody process) is
 * started detached (own session, stdio to a log file), so it outlives this process:
 * that is its whole point.
 */
export async function ensureEndpoint(stateDir: string, logLevel: string, log: Logger, binary = defaultEndpointBinary): Promise<EndpointHandle> {
  const control = stateSocketPath(stateDir, ENDPOINT_SOCKET);
  const existing = await TtrpcClient.connect(control, { timeoutMs: 2000 }).catch(() => undefined);
  if (existing) {
    const api = serviceClient(existing, EndpointService);
    const st = await api.status({}, { timeoutMs: 5000 });
    log.info({ endpoint_pid: st.pid, custody_pid: st.custodyPid, relay_generation: st.relayGeneration }, "attached to running kuasar-endpoint");
    return { api, client: existing, pid: st.pid, custodyPid: st.custodyPid, started: false };
  }
  const logFd = openSync(join(stateDir, "endpoint.log"), "a", 0o600);
  const child = spawn(binary, ["--control", control, "--backend", stateSocketPath(stateDir, BACKEND_SOCKET), "--log-level", logLevel], {
    detached: true,
    stdio: ["ignore", logFd, logFd, "pipe"],
  });
  closeSync(logFd);
  // A binary that cannot run is an 'error' event (unheard, it would end the daemon): its reason is the start's.
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  const ready = await readLine(child.stdio[3] as Readable, 10_000).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw new RuntimeError(Code.Unavailable, `kuasar-endpoint did not start: ${(spawnError ?? (err as Error)).message} (see ${join(stateDir, "endpoint.log")})`);
  });
  child.unref();
  (child.stdio[3] as Readable).destroy();
  const pid = Number(/^ready (\d+)/.exec(ready)?.[1] ?? child.pid);
  const client = await TtrpcClient.connect(control, { timeoutMs: 5000 });
  const api = serviceClient(client, EndpointService);
  const custodyPid = (await api.status({}, { timeoutMs: 5000 })).custodyPid;
  log.info({ endpoint_pid: pid, custody_pid: custodyPid }, "started kuasar-endpoint");
  return { api, client, pid, custodyPid, started: true };
}

/**
 * Stops the kuasar-endpoint serving `stateDir` (an operator's or a test's stop: containerd's
 * connections drop): SIGTERM to its relay, which tells custody to exit with it; whatever of
 * its processes (as the control API reports them, plus `recordedPids`) is left after
 * `graceMs` is stopped (SIGSTOP, so neither replaces the other) and killed.
 */
export async function stopEndpoint(stateDir: string, recordedPids: readonly number[] = [], graceMs = 2000): Promise<void> {
  const pids = new Set(recordedPids.filter((p) => p > 0));
  const client = await TtrpcClient.connect(stateSocketPath(stateDir, ENDPOINT_SOCKET), { timeoutMs: 1000 }).catch(() => undefined);
  if (client) {
    const st = await serviceClient(client, EndpointService)
      .status({}, { timeoutMs: 2000 })
      .catch(() => undefined);
    client.destroy();
    if (st) {
      pids.add(st.pid).add(st.custodyPid);
      killQuietly(st.pid, "SIGTERM");
    }
  }
  const deadline = Date.now() + graceMs;
  // Not our children (they outlive daemons): no exit event reaches us, so a bounded backoff.
  await pollUntil(() => ![...pids].some(isAlive), { timeoutMs: Math.max(0, deadline - Date.now()), minMs: 5, maxMs: 50 });
  for (const pid of pids) killQuietly(pid, "SIGSTOP");
  for (const pid of pids) killQuietly(pid, "SIGKILL");
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
