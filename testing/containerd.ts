import { execFile, spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { containerdBinaries, kuasarIoContainerdBinaries, systemBinaries, type ContainerdBinaries, type ContainerdVersion } from "./deps.js";
import { unmountBelow } from "../src/fs/mounts.js";

/** Snapshotters the harness can configure; `auto` probes overlayfs and falls back to native. */
export type SnapshotterChoice = "overlayfs" | "native" | "auto";

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** Which stock containerd to run: `"1.7"` (config version 2) or `"2"` (config version 3). Required. */
  readonly version: ContainerdVersion;
  /** Parent of the fresh temp dir (`fs.mkdtemp`). Default `os.tmpdir()`. */
  readonly parentDir: string;
  /** Namespace `ctr()` uses unless a call names another (`ctr --namespace`). Default `"default"`. */
  readonly namespace: string;
  /** Snapshotter for CRI, the transfer service and `ctr` (`CONTAINERD_SNAPSHOTTER`). Default `"auto"`. */
  readonly snapshotter: SnapshotterChoice;
  /**
   * CRI sandbox ("pause") image setting: `sandbox_image` (1.7) / `pinned_images.sandbox` (2.x).
   * Never pulled or imported by the harness. Default `"registry.k8s.io/pause:3.10"`.
   */
  readonly sandboxImage: string;
  /** containerd `[debug] level`. Default `"info"`. */
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error";
  /**
   * TOML appended verbatim to the generated config (runtimes, proxy_plugins, ...). It must use
   * the syntax of the config version (`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.x]`
   * for 1.7, `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.x]` for 2.x) and must not
   * re-open a table the harness already wrote (see {@link renderContainerdConfig}). Default `""`.
   */
  readonly extraToml: string;
  /** Config files containerd imports (its top-level `imports`: drop-ins, globs allowed). Default `[]`. */
  readonly imports: readonly string[];
  /** Extra environment for the daemon (merged over a minimal PATH-only env). Default `{}`. */
  readonly env: Readonly<Record<string, string>>;
  /** How long to wait for the gRPC socket to answer `ctr version`, in ms. Default 30000. */
  readonly startTimeoutMs: number;
  /** Grace period between SIGTERM and SIGKILL in `stop()`, in ms. Default 10000. */
  readonly stopTimeoutMs: number;
  /** Keep the temp dir after `stop()` (for debugging). Default `false`. */
  readonly keepDir: boolean;
  /**
   * Parent of containerd's `state` (a fresh temp dir of its own), for a layout like a node's:
   * `root` on disk (/var/lib/containerd) and `state` on tmpfs (/run/containerd), which holds
   * the shims' bundles, FIFOs and sockets. Default `""`: `state` beside `root`.
   */
  readonly stateParentDir: string;
  /**
   * `stock`, or `kuasar-io`: the kuasar-io containerd fork's daemon (version `"1.7"` only: it is
   * 1.7.0 based and takes the same config), run with `ENABLE_CRI_SANDBOXES=1` so its CRI uses
   * sandbox controllers (`[proxy_plugins.X] type = "sandbox"`, handler `sandboxer = "X"`). Default `stock`.
   */
  readonly flavour: "stock" | "kuasar-io";
}

/** Defaults for every {@link ContainerdOptions} field except `version`. */
export const defaultContainerdOptions: Omit<ContainerdOptions, "version"> = {
  parentDir: tmpdir(),
  namespace: "default",
  snapshotter: "auto",
  sandboxImage: "registry.k8s.io/pause:3.10",
  logLevel: "info",
  extraToml: "",
  imports: [],
  env: {},
  startTimeoutMs: 30_000,
  stopTimeoutMs: 10_000,
  keepDir: false,
  stateParentDir: "",
  flavour: "stock",
};

/** Result of one `ctr` invocation. */
export interface CtrResult {
  /** Exit status (for `ctr run`, the task's exit status). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Per-call options of {@link Containerd.ctr}. */
export interface CtrOptions {
  /** `--namespace` for this call. Default: the instance's namespace. */
  readonly namespace?: string;
  /** Text written to ctr's stdin; default: stdin is `/dev/null`. */
  readonly input?: string;
  /** Resolve instead of throwing on a non-zero exit. Default `false`. */
  readonly allowFailure?: boolean;
  /** Kill ctr (SIGKILL) after this many ms. Default 120000. */
  readonly timeoutMs?: number;
}

/** A containerd daemon started by {@link startContainerd}. */
export interface Containerd extends AsyncDisposable {
  readonly version: ContainerdVersion;
  readonly binaries: ContainerdBinaries;
  /** The temp dir holding everything below; removed by `stop()`. */
  readonly dir: string;
  /** gRPC socket path (`[grpc] address`). */
  readonly address: string;
  /** ttrpc socket path (`[ttrpc] address`, `<address>.ttrpc`). */
  readonly ttrpcAddress: string;
  /** containerd `root`. */
  readonly root: string;
  /** containerd `state`. */
  readonly state: string;
  /** The CNI conf dir configured for CRI (empty unless a test writes a conflist). */
  readonly cniConfDir: string;
  /** Generated config file. */
  readonly configPath: string;
  /** File receiving the daemon's stdout and stderr. */
  readonly logPath: string;
  /** Snapshotter actually configured. */
  readonly snapshotter: "overlayfs" | "native";
  /** Pid of the daemon this harness spawned. */
  readonly pid: number;
  /** Runs the matching `ctr --address <address> --namespace <ns> ...args`. */
  ctr(args: readonly string[], options?: CtrOptions): Promise<CtrResult>;
  /** The daemon log so far. */
  logs(): Promise<string>;
  /** SIGTERM, wait, SIGKILL (this pid only); then removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
  /** Stops the daemon and starts it again on the same root, state, config and sockets; {@link pid} changes. */
  restart(): Promise<void>;
}

const SOCKET_PATH_MAX = 107;
const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Paths and settings {@link renderContainerdConfig} needs. */
export interface ContainerdConfigInput {
  readonly version: ContainerdVersion;
  readonly root: string;
  readonly state: string;
  readonly address: string;
  readonly ttrpcAddress: string;
  readonly optDir: string;
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  readonly snapshotter: "overlayfs" | "native";
  readonly sandboxImage: string;
  readonly logLevel: string;
  readonly extraToml: string;
  readonly imports?: readonly string[];
}

const q = (s: string): string => JSON.stringify(s);

/**
 * Renders the daemon config. Tables written (do not re-open them in `extraToml`):
 * 1.7 (version 2): `[grpc] [ttrpc] [debug]`, `plugins."io.containerd.internal.v1.opt"`,
 * `plugins."io.containerd.nri.v1.nri"`, `plugins."io.containerd.grpc.v1.cri"` and its
 * `.containerd`, `.containerd.runtimes.runc` and `.cni` subtables (plus
 * `transfer.v1.local` unpack_config when native);
 * 2.x (version 3): the same top-level tables, `plugins.'io.containerd.cri.v1.images'` (+
 * `.pinned_images`), `plugins.'io.containerd.cri.v1.runtime'` (+ `.cni`),
 * `plugins.'io.containerd.image-verifier.v1.bindir'`.
 */
export function renderContainerdConfig(c: ContainerdConfigInput): string {
  const head = [
    `version = ${c.version === "1.7" ? 2 : 3}`,
    ...(c.imports && c.imports.length > 0 ? [`imports = [${c.imports.map(q).join(", ")}]`] : []),
    `root = ${q(c.root)}`,
    `state = ${q(c.state)}`,
    "",
    "[grpc]",
    `  address = ${q(c.address)}`,
    "",
    "[ttrpc]",
    `  address = ${q(c.ttrpcAddress)}`,
    "",
    "[debug]",
    `  level = ${q(c.logLevel)}`,
    "",
    "[plugins]",
    // The opt plugin mkdirs its path at startup (default /opt/containerd).
    `  [plugins."io.containerd.internal.v1.opt"]`,
    `    path = ${q(c.optDir)}`,
    // NRI is on by default in 2.x and would create /var/run/nri/nri.sock on the host fs.
    `  [plugins."io.containerd.nri.v1.nri"]`,
    `    disable = true`,
  ];
  const body =
    c.version === "1.7"
      ? [
          `  [plugins."io.containerd.grpc.v1.cri"]`,
          `    sandbox_image = ${q(c.sandboxImage)}`,
          `    restrict_oom_score_adj = true`,
          `    [plugins."io.containerd.grpc.v1.cri".containerd]`,
          `      snapshotter = ${q(c.snapshotter)}`,
          // 1.7 replaces (2.x merges) the default runtimes map when the config names any
          // runtime, so a runtime added in extraToml would drop `runc`, the default_runtime_name.
          `      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
          `        runtime_type = "io.containerd.runc.v2"`,
          `    [plugins."io.containerd.grpc.v1.cri".cni]`,
          `      bin_dir = ${q(c.cniBinDir)}`,
          `      conf_dir = ${q(c.cniConfDir)}`,
          ...(c.snapshotter === "native"
            ? [
                `  [[plugins."io.containerd.transfer.v1.local".unpack_config]]`,
                `    platform = "linux/amd64"`,
                `    snapshotter = "native"`,
              ]
            : []),
        ]
      : [
          `  [plugins."io.containerd.image-verifier.v1.bindir"]`,
          `    bin_dir = ${q(join(c.optDir, "image-verifier", "bin"))}`,
          `  [plugins."io.containerd.cri.v1.images"]`,
          `    snapshotter = ${q(c.snapshotter)}`,
          `    [plugins."io.containerd.cri.v1.images".pinned_images]`,
          `      sandbox = ${q(c.sandboxImage)}`,
          `  [plugins."io.containerd.cri.v1.runtime"]`,
          `    restrict_oom_score_adj = true`,
          `    [plugins."io.containerd.cri.v1.runtime".cni]`,
          `      bin_dirs = [${q(c.cniBinDir)}]`,
          `      conf_dir = ${q(c.cniConfDir)}`,
          ...(c.snapshotter === "native"
            ? [
                `  [[plugins."io.containerd.transfer.v1.local".unpack_config]]`,
                `    platform = "linux/amd64"`,
                `    snapshotter = "native"`,
              ]
            : []),
        ];
  const extra = c.extraToml.trim() === "" ? [] : ["", "# --- extra ---", c.extraToml];
  return [...head, ...body, ...extra, ""].join("\n");
}

function run(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CtrResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: opts.env, timeout: opts.timeoutMs ?? 120_000, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number") {
          reject(new Error(`${file} ${args.join(" ")}: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

let overlayProbe: Promise<boolean> | undefined;

/**
 * Whether an overlay mount with its upper dir under `parentDir` works here (needs root;
 * the probe mount is unmounted at once). Cached per process.
 */
export function overlayfsWorks(parentDir: string): Promise<boolean> {
  overlayProbe ??= (async () => {
    const dir = await mkdtemp(join(parentDir, "ovl-probe-"));
    try {
      for (const d of ["l", "u", "w", "m"]) await mkdir(join(dir, d));
      const m = await run("mount", [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${join(dir, "l")},upperdir=${join(dir, "u")},workdir=${join(dir, "w")}`,
        join(dir, "m"),
      ]);
      if (m.code !== 0) return false;
      await run("umount", [join(dir, "m")]);
      return true;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return overlayProbe;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

/**
 * Starts a stock containerd on a fresh temp dir: writes the config (see
 * {@link renderContainerdConfig}), spawns the daemon with stdout/stderr to `containerd.log`
 * and PATH = `<package usr/bin>:/usr/local/sbin:...` (so the package's own
 * `containerd-shim-runc-v2` and Debian's `/usr/sbin/runc` are found), and waits until
 * `ctr version` answers on the gRPC socket.
 *
 * Must run inside the e2e isolation (see `isolation.ts`): containerd still uses
 * `/run/containerd/s` (shim sockets), `/run/containerd/runc`, `/run/containerd/fifo`
 * (ctr) and `/var/lib/cni` whatever the config says.
 */
export async function startContainerd(
  options: Partial<ContainerdOptions> & Pick<ContainerdOptions, "version">,
  { signal }: { signal?: AbortSignal } = {},
): Promise<Containerd> {
  signal?.throwIfAborted();
  const o: ContainerdOptions = { ...defaultContainerdOptions, ...options };
  if (o.version !== "1.7" && o.version !== "2") throw new Error(`startContainerd: bad version ${String(o.version)}`);
  if (!(o.startTimeoutMs > 0)) throw new Error("startContainerd: startTimeoutMs must be > 0");
  if (!(o.stopTimeoutMs > 0)) throw new Error("startContainerd: stopTimeoutMs must be > 0");
  if (o.flavour === "kuasar-io" && o.version !== "1.7") throw new Error("startContainerd: the kuasar-io fork is containerd 1.7 based: use version 1.7");
  const binaries = o.flavour === "kuasar-io" ? kuasarIoContainerdBinaries() : containerdBinaries(o.version);
  const sys = systemBinaries();

  const dir = await mkdtemp(join(o.parentDir, `ctrd${o.version === "1.7" ? "17" : "2"}-`));
  const address = join(dir, "containerd.sock");
  const ttrpcAddress = `${address}.ttrpc`;
  if (Buffer.byteLength(ttrpcAddress) > SOCKET_PATH_MAX) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`startContainerd: socket path too long (${ttrpcAddress}); use a shorter parentDir`);
  }
  const root = join(dir, "root");
  const stateDir = o.stateParentDir ? await mkdtemp(join(o.stateParentDir, "ctrd-state-")) : "";
  const state = stateDir || join(dir, "state");
  const cniConfDir = join(dir, "cni", "net.d");
  const optDir = join(dir, "opt");
  const configPath = join(dir, "config.toml");
  const logPath = join(dir, "containerd.log");
  await mkdir(cniConfDir, { recursive: true });

  const snapshotter =
    o.snapshotter === "auto" ? ((await overlayfsWorks(dir)) ? "overlayfs" : "native") : o.snapshotter;
  await writeFile(
    configPath,
    renderContainerdConfig({
      version: o.version,
      root,
      state,
      address,
      ttrpcAddress,
      optDir,
      cniBinDir: sys.cniBinDir,
      cniConfDir,
      snapshotter,
      sandboxImage: o.sandboxImage,
      logLevel: o.logLevel,
      extraToml: o.extraToml,
      imports: o.imports,
    }),
  );

  const path = `${binaries.binDir}:${BASE_PATH}`;
  const daemonEnv: NodeJS.ProcessEnv = { PATH: path, HOME: "/root", TMPDIR: tmpdir(), ...(o.flavour === "kuasar-io" ? { ENABLE_CRI_SANDBOXES: "1" } : {}), ...o.env };
  const ctrEnv: NodeJS.ProcessEnv = { PATH: path, HOME: "/root", CONTAINERD_SNAPSHOTTER: snapshotter };

  let child!: ChildProcess;
  /** Spawns the daemon on this dir and config; resolves once its gRPC socket answers. */
  const launch = async (): Promise<void> => {
    const logFd = openSync(logPath, "a");
    try {
      child = spawn(binaries.containerd, ["--config", configPath], {
        env: daemonEnv,
        cwd: dir,
        stdio: ["ignore", logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    await Promise.race([new Promise((r) => child.once("spawn", r)), spawnError.then((e) => Promise.reject(e))]);
    if (child.pid === undefined) throw new Error("startContainerd: no pid");
    // Wait for the gRPC socket to answer.
    const deadline = Date.now() + o.startTimeoutMs;
    let lastErr = "";
    for (;;) {
      if (signal?.aborted === true || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        const why =
          signal?.aborted === true
            ? "aborted"
            : child.exitCode !== null || child.signalCode !== null
              ? `exited (${child.exitCode ?? child.signalCode})`
              : `did not answer within ${o.startTimeoutMs} ms (${lastErr})`;
        const tail = (await logs()).split("\n").slice(-30).join("\n");
        await stop();
        if (signal?.aborted === true) throw signal.reason;
        throw new Error(`containerd ${o.version} ${why}; log tail:\n${tail}`);
      }
      const v = await run(binaries.ctr, ["--address", address, "version"], { env: ctrEnv, timeoutMs: 5_000 }).catch(
        (e: unknown) => ({ code: -1, stdout: "", stderr: String(e) }),
      );
      if (v.code === 0) break;
      lastErr = v.stderr.trim().split("\n").pop() ?? "";
      await sleep(100);
    }
  };

  const ctr = async (args: readonly string[], co: CtrOptions = {}): Promise<CtrResult> => {
    const argv = ["--address", address, "--namespace", co.namespace ?? o.namespace, ...args];
    const res = await run(binaries.ctr, argv, { env: ctrEnv, input: co.input, timeoutMs: co.timeoutMs });
    if (res.code !== 0 && co.allowFailure !== true) {
      throw new Error(`ctr ${args.join(" ")} exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
    }
    return res;
  };
  const logs = (): Promise<string> => readFile(logPath, "utf8").catch(() => "");

  /** SIGTERM the daemon (the pid this harness spawned), SIGKILL after the grace period. */
  const stopDaemon = async (): Promise<void> => {
    const pid = child.pid!;
    if (!(await waitExit(child, 0))) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      if (!(await waitExit(child, o.stopTimeoutMs))) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
        await waitExit(child, 5_000);
      }
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await stopDaemon();
      if (o.keepDir) return;
      for (const d of stateDir ? [stateDir, dir] : [dir]) {
        try {
          await rm(d, { recursive: true, force: true });
        } catch {
          // Leftover rootfs / snapshot mounts (e.g. a container still running): unmount, retry.
          await unmountBelow(d);
          await rm(d, { recursive: true, force: true, maxRetries: 3 });
        }
      }
    })();
    return stopping;
  };

  /** Stops the daemon and starts it again on the same root, state and sockets (shims keep running). */
  const restart = async (): Promise<void> => {
    await stopDaemon();
    await launch();
  };

  await launch();

  return {
    version: o.version,
    binaries,
    dir,
    address,
    ttrpcAddress,
    root,
    state,
    cniConfDir,
    configPath,
    logPath,
    snapshotter,
    get pid() {
      return child.pid!;
    },
    ctr,
    logs,
    stop,
    restart,
    [Symbol.asyncDispose]: stop,
  };
}
