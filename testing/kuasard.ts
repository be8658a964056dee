import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { stopEndpoint } from "../src/daemon/endpoint-launcher.js";
import { killQuietly } from "../src/pod/pod.js";
import { unmountBelow } from "../src/fs/mounts.js";
import { join } from "node:path";
import { repoRoot } from "./deps.js";
import { DAEMON_NODE_FLAGS } from "../src/daemon/daemon-node-flags.js";

/** Options of {@link startSandboxer}. */
export interface SandboxerProcessOptions {
  /** Which program: a single-kind binary (`runc-sandboxer`) or `kuasard`. */
  program: "runc-sandboxer" | "gvisor-sandboxer" | "kuasard";
  /** Sandbox API socket (`--listen`); omit when a config file names the sockets. */
  listen?: string;
  /** State dir (`--dir`). */
  dir: string;
  /** containerd's ttrpc socket for task events. */
  containerdTtrpcAddress: string;
  /** Extra flags. */
  args?: readonly string[];
  /** Node/V8 flags before the program. Default: the launchers' own (`DAEMON_NODE_FLAGS`). */
  nodeFlags?: readonly string[];
}

/** A sandboxer daemon a test started; it knows the pids it is allowed to stop. */
export interface SandboxerProcess {
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the daemon logged "kuasard ready"; rejects if it exited first. */
  readonly ready: Promise<{ endpointPid: number; custodyPid: number }>;
  /** The daemon's NDJSON log lines so far. */
  logs(): string;
  /** SIGKILL to the daemon only (the crash test). */
  kill9(): Promise<void>;
  /** SIGTERM to the daemon; waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `bin/<program>` with its stdout/stderr in `<dir>/../<program>-<n>.log`. */
export function startSandboxer(o: SandboxerProcessOptions, run = 0): SandboxerProcess {
  mkdirSync(o.dir, { recursive: true });
  const logPath = `${o.dir}.${o.program}-${run}.log`;
  const fd = openSync(logPath, "a");
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // A SIGUSR2 memory reading then collects first (the soak measures live heap).
      "--expose-gc",
      ...(o.nodeFlags ?? DAEMON_NODE_FLAGS),
      join(repoRoot(), "dist", "src", "cli", `${o.program}.js`),
      ...(o.listen ? ["--listen", o.listen, "--dir", o.dir] : []),
      "--containerd-ttrpc-address",
      o.containerdTtrpcAddress,
      "--log-level",
      "debug",
      ...(o.args ?? []),
    ],
    { stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const logs = () => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };
  const ready = (async () => {
    for (let i = 0; i < 600; i++) {
      const line = logs().split("\n").find((l) => l.includes('"msg":"kuasard ready"'));
      if (line) {
        const l = JSON.parse(line) as { endpoint_pid: number; custody_pid: number };
        return { endpointPid: l.endpoint_pid, custodyPid: l.custody_pid };
      }
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${o.program} exited before ready:\n${logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${o.program} not ready after 30 s:\n${logs()}`);
  })();
  return {
    pid: child.pid!,
    logPath,
    ready,
    logs,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Runs a setup's `stop` (CRI client, containerd, our daemon), then, even when
 * that failed: stops the endpoint of its state dir (and the pids it recorded), unmounts what a failed test
 * left below `dir` (a pod's shm tmpfs) and removes `dir`.
 */
export async function tearDownKuasar(dir: string, endpoint: () => { stateDir: string; pids: number[] }, stop: () => Promise<void>): Promise<void> {
  try {
    await stop();
  } finally {
    const e = endpoint();
    await stopEndpoint(e.stateDir, e.pids);
    for (const pid of podProcessesRecorded(dir)) killQuietly(pid);
    keepLogs(dir);
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** With KUASAR_TEST_KEEP_LOGS=DIR, copies the daemon logs (and VM console logs) of a test or a bench run there before its dir goes. */
export function keepLogs(dir: string): void {
  const to = process.env["KUASAR_TEST_KEEP_LOGS"];
  if (!to) return;
  try {
    execFileSync("sh", ["-c", 'mkdir -p "$2" && find "$1" \\( -name "*.log" -o -name "*.jsonl" \\) -size -20M -exec cp --parents {} "$2" \\;', "sh", dir, to]);
  } catch {
    /* best effort */
  }
}

/**
 * Pids our sandboxers recorded for the pods of a test (holders, VMMs, virtio-fs
 * daemons) in their state under `dir`: a test that failed half-way leaves them
 * running, and they must not outlive it.
 */
function podProcessesRecorded(dir: string): number[] {
  const pids: number[] = [];
  for (const records of globSandboxRecordDirs(dir)) {
    for (const f of readdirSync(records).filter((n) => n.endsWith(".json"))) {
      try {
        const r = JSON.parse(readFileSync(`${records}/${f}`, "utf8")) as { holderPid?: number; vm?: { qemuPid?: number; virtiofsdPid?: number } };
        pids.push(r.holderPid ?? 0, r.vm?.qemuPid ?? 0, r.vm?.virtiofsdPid ?? 0);
      } catch {
        /* partial or foreign file */
      }
    }
  }
  return pids.filter((p) => p > 0);
}

/** `sandboxes` record dirs of the sandboxers under `dir`: each a state dir's child, at any depth (a test may nest its --dir deep). */
function globSandboxRecordDirs(dir: string, depth = 0): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  if (names.includes("sandboxes")) return [`${dir}/sandboxes`];
  return depth >= 8 ? [] : names.flatMap((n) => globSandboxRecordDirs(`${dir}/${n}`, depth + 1));
}
