import { spawn } from "node:child_process";
import { access, constants as fsConstants } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Code } from "../errors/code.js";
import { codeFromErrnoNumber } from "../errors/errno.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Where `npm run build` (`make -C native`) puts the holder, relative to this module in `dist/src/holder/`. */
export const defaultHolderBinary: string = fileURLToPath(new URL("../../../build/native/kuasar-holder", import.meta.url));

/** The name a pod's pid 1 runs as: kuasar-pod-init, which the holder execs beside its own binary (`pod-init` when the holder could not). */
export const POD_INIT_COMM = "kuasar-pod-init";

/** Options of {@link startHolder}. */
export interface StartHolderOptions {
  /** Network namespace file to join (`--netns`, e.g. `/run/netns/<name>`); undefined keeps the caller's. Default undefined. */
  netns: string | undefined;
  /** New IPC namespace (`--new-ipc`). Default false. */
  newIpc: boolean;
  /** New UTS namespace (`--new-uts`). Default false. */
  newUts: boolean;
  /** Hostname set in the new UTS namespace (`--hostname`; requires `newUts`). Default undefined. */
  hostname: string | undefined;
  /**
   * The pod's sysctls (`--sysctl KEY=VALUE`), set once the holder is in the pod's
   * namespaces: net.* need `netns`, the others `newIpc`. Default {}.
   */
  sysctls: Readonly<Record<string, string>>;
  /**
   * The pod cgroup's dir in each hierarchy (`--cgroup DIR`): the holder joins them
   * before it forks, so its pod init and what it launches start there. Default [].
   */
  cgroups: readonly string[];
  /**
   * The pod's /dev/shm (`--shm DIR --shm-size BYTES`): a tmpfs the holder mounts on DIR before it
   * reports ready and unmounts when it exits. Default undefined (none).
   */
  shm: { dir: string; sizeBytes: number } | undefined;
  /** A pod pid namespace with a pid-1 pod init (`--new-pid`). Default false. */
  newPid: boolean;
  /** File the holder appends its log to (`--log`); undefined = /dev/null. Default undefined. */
  logFile: string | undefined;
  /** The holder executable. Default {@link defaultHolderBinary}. */
  binary: string;
  /** Deadline for the holder to report ready, in ms. Default 10000. */
  timeoutMs: number;
}

/** Defaults of {@link StartHolderOptions}. */
export const defaultStartHolderOptions: StartHolderOptions = {
  netns: undefined,
  newIpc: false,
  newUts: false,
  hostname: undefined,
  sysctls: {},
  cgroups: [],
  shm: undefined,
  newPid: false,
  logFile: undefined,
  binary: defaultHolderBinary,
  timeoutMs: 10_000,
};

/** A started holder. */
export interface HolderProcess {
  /** The holder's pid (host pid namespace). */
  readonly pid: number;
  /** Host pid of the pod's pid-1 (`newPid`), else undefined. */
  readonly podInitPid: number | undefined;
}

/** Merges `options` over the defaults and validates them eagerly, naming the bad field. */
export function resolveStartHolderOptions(dir: string, options: Partial<StartHolderOptions> = {}): StartHolderOptions {
  const o: StartHolderOptions = { ...defaultStartHolderOptions, ...options };
  if (o.hostname !== undefined && !o.newUts) throw new RuntimeError(Code.InvalidArgument, "hostname: requires newUts");
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) throw new RuntimeError(Code.InvalidArgument, `timeoutMs: must be > 0, got ${o.timeoutMs}`);
  return o;
}


/**
 * Starts the pod holder for `dir` (which must exist) detached from this process, so it
 * outlives the daemon; resolves once it reported ready on fd 3, i.e. once `holder.sock`
 * listens and `holder.pid` is written. A failure to start carries the holder's own reason.
 */
export async function startHolder(
  dir: string,
  options: Partial<StartHolderOptions> = {},
  { signal }: { signal?: AbortSignal } = {},
): Promise<HolderProcess> {
  const o = resolveStartHolderOptions(dir, options);
  signal?.throwIfAborted();
  try {
    await access(o.binary, fsConstants.X_OK);
  } catch (err) {
    throw new RuntimeError(Code.FailedPrecondition, "kuasar-holder not built: run npm run build", { cause: err });
  }
  const args = ["--dir", dir];
  if (o.netns !== undefined) args.push("--netns", o.netns);
  if (o.newIpc) args.push("--new-ipc");
  if (o.newUts) args.push("--new-uts");
  if (o.hostname !== undefined) args.push("--hostname", o.hostname);
  for (const [k, v] of Object.entries(o.sysctls)) args.push("--sysctl", `${k}=${v}`);
  for (const dir of o.cgroups) args.push("--cgroup", dir);
  if (o.shm !== undefined) args.push("--shm", o.shm.dir, "--shm-size", String(o.shm.sizeBytes));
  if (o.newPid) args.push("--new-pid");
  if (o.logFile !== undefined) args.push("--log", o.logFile);

  // No environment: the holder reads none (each spawn request carries its process's whole
  // environment), and the daemon's would be a written stack page of every pod's holder.
  const child = spawn(o.binary, args, { detached: true, env: {}, stdio: ["ignore", "ignore", "pipe", "pipe"] });
  const stderr = child.stdio[2] as Readable;
  const ready = child.stdio[3] as Readable;
  let errText = "";
  let line = "";

  return new Promise<HolderProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done(new RuntimeError(Code.DeadlineExceeded, `kuasar-holder for ${dir}: not ready within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const onAbort = () => {
      child.kill("SIGKILL");
      done(RuntimeError.from(signal!.reason, Code.Canceled));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    const done = (err: RuntimeError | undefined, value?: HolderProcess) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      child.removeAllListeners("error");
      child.removeAllListeners("close");
      stderr.destroy();
      ready.destroy();
      child.unref();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };

    stderr.setEncoding("utf8");
    stderr.on("data", (s: string) => {
      if (errText.length < 4096) errText += s;
    });
    ready.setEncoding("utf8");
    ready.on("data", (s: string) => {
      line += s;
      const nl = line.indexOf("\n");
      if (nl < 0) {
        if (line.length > 4096) done(new RuntimeError(Code.Internal, "kuasar-holder: garbage on the ready pipe"));
        return;
      }
      const [word, a = "", ...rest] = line.slice(0, nl).split(" ");
      if (word === "ready") {
        const pid = Number(a);
        const podInit = Number(rest[0] ?? "0");
        done(undefined, { pid, podInitPid: podInit > 0 ? podInit : undefined });
      } else if (word === "error") {
        const code = codeFromErrnoNumber(Number(a)) ?? Code.FailedPrecondition;
        done(new RuntimeError(code, `kuasar-holder for ${dir}: ${rest.join(" ")}`));
      } else {
        done(new RuntimeError(Code.Internal, `kuasar-holder: unexpected ${JSON.stringify(line.slice(0, nl))} on the ready pipe`));
      }
    });
    child.on("error", (err) => done(RuntimeError.from(err, Code.FailedPrecondition)));
    // "close": the holder exited and its pipes are drained (an `error` line is read first).
    child.on("close", (code, sig) => {
      const how = code !== null ? `exit status ${code}` : `signal ${sig}`;
      done(new RuntimeError(Code.FailedPrecondition, `kuasar-holder for ${dir} exited (${how}) before ready: ${errText.trim()}`));
    });
  });
}
