import { join } from "node:path";
import { resolveOptions, type Schema } from "../config/schema.js";
import { shortSocketPath } from "../fs/long-socket-path.js";
import { MAX_SOCKET_PATH_BYTES } from "../fs/unix-socket.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { logLevels, type LogLevel } from "../log/logger.js";
import { defaultHypervisorOptions, hypervisorSchema, type HypervisorOptions } from "../sandboxers/vmm/hypervisor-options.js";
import { defaultGuestDir } from "../sandboxers/vmm/guest-dir.js";
import { runscNetworkModes } from "../sandboxers/gvisor/runsc-cli.js";

/** Sandboxer kinds kuasard knows. */
export const sandboxerKinds = ["runc", "wasm", "vmm", "gvisor"] as const;
export type SandboxerKind = (typeof sandboxerKinds)[number];

/**
 * Which Sandbox API a socket speaks: `upstream` (containerd 2.x, and the kuasar-io fork's
 * 2.0-based branch) or `kuasar-io` (the kuasar-io containerd fork's 1.7.0-based `main`:
 * same service name, other field numbers, Prepare/Purge/UpdateResources). The two cannot
 * be told apart on the wire, so each socket is told.
 */
export const sandboxApis = ["upstream", "kuasar-io"] as const;
export type SandboxApi = (typeof sandboxApis)[number];

/** Options of one sandboxer (`[sandboxers.<kind>]` in the TOML config). */
export interface SandboxerOptions {
  /** Sandbox API socket (Kuasar `--listen`). Default `/run/<kind>-sandboxer.sock`. */
  listen: string;
  /** The API `listen` speaks (`--sandbox-api`). Default `upstream`. */
  sandboxApi: SandboxApi;
  /** A second Sandbox API socket speaking the kuasar-io fork's API, for a node with both flavours; "" for none. Default "". */
  kuasarIoListen: string;
  /** State directory (Kuasar `--dir`). Default `/run/kuasar-<kind>`. */
  dir: string;
  /** runc binary (runc only). Default `runc` from PATH. */
  runcBinary: string;
  /**
   * OCI runtime of the runc sandboxer (runc only): `runc` (`runc_binary`), `crun`, or an absolute
   * path to a runc-compatible one; probed at start, runc when it fails. Default `runc`.
   */
  runtime: string;
  /** runc's systemd cgroup driver (runc only; `--systemd-cgroup`). Default false. */
  systemdCgroup: boolean;
  /** WASI engine (wasm only): `node` (embedded V8 via node:wasi) or `wasmtime`. Default `node`. */
  wasmEngine: string;
  /** The wasmtime binary when `wasm_engine = "wasmtime"` (wasm only). Default `wasmtime` from PATH. */
  wasmtimeBinary: string;
  /** How VMs boot (vmm only; `[sandboxers.vmm.hypervisor]`, or `[hypervisor]` in a vmm-sandboxer config). */
  hypervisor: HypervisorOptions;
  /** runsc binary (gvisor only). Default `runsc` from PATH. */
  runscBinary: string;
  /** gVisor platform (gvisor only): `ptrace`, or `systrap`/`kvm` where runsc and the host support them. Default `ptrace`. */
  runscPlatform: string;
  /**
   * Network of gVisor pods (gvisor only): `host` (socket calls go to the pod's network namespace),
   * `sandbox` (gVisor's own network stack on the pod's interfaces) or `none` (loopback only).
   * Default `host`: Debian's runsc (2022-12) refuses `sandbox` on kernels that expose
   * net.core sysctls in every network namespace, as this one does.
   */
  runscNetwork: string;
  /** Directory for runsc's debug logs (gvisor only); "" for none. Default "". */
  runscDebugLogDir: string;
  /** More global runsc flags (gvisor only), e.g. `["--overlay2=root:memory"]`. Default none. */
  runscFlags: string[];
  /**
   * Seconds between two passes that take down what `dir` holds and no live sandbox owns
   * (pod dirs, their holders and mounts, sandboxes created and never started); one pass
   * always runs at start. 0 disables the periodic passes. Default 60.
   */
  reconcileIntervalSecs: number;
}

/** Options of kuasard (TOML keys are the snake_case of these names). */
export interface KuasardOptions {
  /** Log level (`--log-level`). Default `info`. */
  logLevel: LogLevel;
  /** Sandboxers to run (`--sandboxers runc,...`). Default `["runc"]`. */
  sandboxers: SandboxerKind[];
  /** Where kuasard and kuasar-endpoint keep their own sockets (`--state-dir`). Default `/run/kuasar`. */
  stateDir: string;
  /** containerd's ttrpc socket, where task events go (`--containerd-ttrpc-address`). Default `/run/containerd/containerd.sock.ttrpc`. */
  containerdTtrpcAddress: string;
  /**
   * Socket of the shim v2 bridge for containerd 1.7 (`--shim-listen`; `containerd-shim-kuasar-v1`
   * finds it through `KUASAR_SHIM_SOCKET`). Default `/run/kuasar/shim.sock`; "" disables the bridge.
   */
  shimListen: string;
  /** Per-kind sandboxer options. */
  sandboxer: Record<SandboxerKind, SandboxerOptions>;
  /** What kuasard's servers keep for their clients at most (TOML table `[limits]`). */
  limits: ServerLimits;
}

/**
 * Bounds of the sockets kuasard listens on: each Sandbox API socket and the
 * internal socket (where kuasar-endpoint's own connections are exempt).
 */
export interface ServerLimits {
  /** Most connections open at once, per socket. Default 256. */
  maxConnections: number;
  /** A connection with no call for this long is closed, in ms (containerd and the endpoint re-dial). Default 5 minutes. */
  idleTimeoutMs: number;
  /** A connection stalled this long in the middle of a frame, or not answering a ping, is closed, in ms. Default 10 s. */
  stallTimeoutMs: number;
  /** How often gRPC connections are pinged, in ms. Default 30 s. */
  pingIntervalMs: number;
}

export const defaultServerLimits: Readonly<ServerLimits> = {
  maxConnections: 256,
  idleTimeoutMs: 5 * 60_000,
  stallTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
};

const MAX_TIMER_MS = 0x7fffffff;
const limitsSchema: Schema<ServerLimits> = {
  maxConnections: { kind: "int", min: 1, max: 1 << 20 },
  idleTimeoutMs: { kind: "int", min: 1, max: MAX_TIMER_MS },
  stallTimeoutMs: { kind: "int", min: 1, max: MAX_TIMER_MS },
  pingIntervalMs: { kind: "int", min: 1, max: MAX_TIMER_MS },
};

/** Defaults of one sandboxer kind. */
export function defaultSandboxerOptions(kind: SandboxerKind): SandboxerOptions {
  return {
    listen: `/run/${kind}-sandboxer.sock`,
    sandboxApi: "upstream",
    kuasarIoListen: "",
    dir: `/run/kuasar-${kind}`,
    runcBinary: "runc",
    runtime: "runc",
    systemdCgroup: false,
    wasmEngine: "node",
    wasmtimeBinary: "wasmtime",
    hypervisor: defaultHypervisorOptions(defaultGuestDir),
    runscBinary: "runsc",
    runscPlatform: "ptrace",
    runscNetwork: "host",
    runscDebugLogDir: "",
    runscFlags: [],
    reconcileIntervalSecs: 60,
  };
}

export const defaultKuasardOptions: KuasardOptions = {
  logLevel: "info",
  sandboxers: ["runc"],
  stateDir: "/run/kuasar",
  containerdTtrpcAddress: "/run/containerd/containerd.sock.ttrpc",
  shimListen: "/run/kuasar/shim.sock",
  sandboxer: {
    runc: defaultSandboxerOptions("runc"),
    wasm: defaultSandboxerOptions("wasm"),
    vmm: defaultSandboxerOptions("vmm"),
    gvisor: defaultSandboxerOptions("gvisor"),
  },
  limits: { ...defaultServerLimits },
};

const topSchema: Schema<Omit<KuasardOptions, "sandboxer" | "limits">> = {
  logLevel: { kind: "enum", values: logLevels },
  sandboxers: { kind: "stringList" },
  stateDir: { kind: "path" }, // its length: checkDirLength
  containerdTtrpcAddress: { kind: "path", maxBytes: MAX_SOCKET_PATH_BYTES },
  shimListen: { kind: "string" },
};

const sandboxerSchema: Schema<Omit<SandboxerOptions, "hypervisor">> = {
  listen: { kind: "path", maxBytes: MAX_SOCKET_PATH_BYTES },
  sandboxApi: { kind: "enum", values: sandboxApis },
  kuasarIoListen: { kind: "string" },
  dir: { kind: "path" }, // its length: checkDirLength
  runcBinary: { kind: "string", nonEmpty: true },
  runtime: { kind: "string", nonEmpty: true }, // "runc", "crun" or an absolute path: checked at start
  systemdCgroup: { kind: "bool" },
  wasmEngine: { kind: "enum", values: ["node", "wasmtime"] },
  wasmtimeBinary: { kind: "string", nonEmpty: true },
  runscBinary: { kind: "string", nonEmpty: true },
  runscPlatform: { kind: "enum", values: ["ptrace", "systrap", "kvm"] },
  runscNetwork: { kind: "enum", values: runscNetworkModes },
  runscDebugLogDir: { kind: "string" },
  runscFlags: { kind: "stringList" },
  reconcileIntervalSecs: { kind: "int", min: 0, max: 86_400 },
};

const camel = (k: string) => k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const camelKeys = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v]));

/**
 * Builds options from a parsed TOML document and command-line overrides
 * (flags win). Every error names the offending key.
 */
export function resolveKuasardOptions(toml: Record<string, unknown>, flags: Partial<Record<string, unknown>>): KuasardOptions {
  // A Kuasar-style vmm-sandboxer config keeps its QEMU keys in a top-level [hypervisor] table.
  const { sandboxers: tomlSandboxers, hypervisor: kuasarHypervisor, limits: limitsTable, ...tomlTop } = toml;
  if (limitsTable !== undefined && (typeof limitsTable !== "object" || limitsTable === null)) throw new RuntimeError(Code.InvalidArgument, "config limits: expected a table");
  const limits = resolveOptions(limitsSchema, defaultServerLimits, camelKeys((limitsTable ?? {}) as Record<string, unknown>), "limits.");
  let sandboxerTables: Record<string, unknown> = {};
  let enabledFromToml: unknown;
  if (Array.isArray(tomlSandboxers) || typeof tomlSandboxers === "string") enabledFromToml = tomlSandboxers;
  else if (tomlSandboxers && typeof tomlSandboxers === "object") {
    sandboxerTables = tomlSandboxers as Record<string, unknown>;
    enabledFromToml = Object.keys(sandboxerTables);
  }
  const { sandboxer: _s, limits: _l, ...topDefaults } = defaultKuasardOptions;
  const top = resolveOptions(topSchema, topDefaults, {
    ...camelKeys(tomlTop),
    ...(enabledFromToml !== undefined ? { sandboxers: enabledFromToml } : {}),
    ...pick(flags, ["logLevel", "sandboxers", "stateDir", "containerdTtrpcAddress", "shimListen"]),
  });
  // A single-kind binary's state dir is its --dir.
  const stateDirSource = flags["stateDir"] === undefined ? "config state_dir" : flags["stateDir"] === flags["dir"] ? "--dir" : "--state-dir";
  checkDirLength(stateDirSource, top.stateDir);
  if (top.shimListen !== "" && (!top.shimListen.startsWith("/") || Buffer.byteLength(top.shimListen) > MAX_SOCKET_PATH_BYTES)) {
    throw new RuntimeError(Code.InvalidArgument, `config shim_listen: expected an absolute socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, or ""`);
  }
  for (const k of top.sandboxers) {
    if (!(sandboxerKinds as readonly string[]).includes(k)) throw new RuntimeError(Code.InvalidArgument, `config sandboxers: unknown kind ${JSON.stringify(k)} (known: ${sandboxerKinds.join(", ")})`);
  }
  const sandboxer = { ...defaultKuasardOptions.sandboxer };
  for (const kind of sandboxerKinds) {
    const table = sandboxerTables[kind];
    if (table !== undefined && (typeof table !== "object" || table === null)) throw new RuntimeError(Code.InvalidArgument, `config sandboxers.${kind}: expected a table`);
    const single = top.sandboxers.length === 1 && top.sandboxers[0] === kind;
    const { hypervisor: hvTable, ...rest } = (table ?? {}) as Record<string, unknown>;
    const defaults = defaultSandboxerOptions(kind);
    const { hypervisor: _unused, ...flat } = defaults;
    const resolved = resolveOptions(sandboxerSchema, flat, { ...camelKeys(rest), ...(single ? pick(flags, ["listen", "dir", "sandboxApi"]) : {}) }, `sandboxers.${kind}.`);
    const k = resolved.kuasarIoListen;
    if (k !== "" && (!k.startsWith("/") || Buffer.byteLength(k) > MAX_SOCKET_PATH_BYTES)) {
      throw new RuntimeError(Code.InvalidArgument, `config sandboxers.${kind}.kuasar_io_listen: expected an absolute socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, or ""`);
    }
    if (k !== "" && k === resolved.listen) throw new RuntimeError(Code.InvalidArgument, `config sandboxers.${kind}.kuasar_io_listen: the same socket as listen; set sandbox_api = "kuasar-io" to have listen speak the fork's API`);
    let hypervisor = defaults.hypervisor;
    const hv = hvTable ?? (kind === "vmm" ? kuasarHypervisor : undefined);
    if (hv !== undefined) {
      if (kind !== "vmm") throw new RuntimeError(Code.InvalidArgument, `config sandboxers.${kind}.hypervisor: only the vmm sandboxer boots VMs`);
      if (typeof hv !== "object" || hv === null) throw new RuntimeError(Code.InvalidArgument, "config hypervisor: expected a table");
      hypervisor = resolveOptions(hypervisorSchema, defaults.hypervisor, camelKeys(hv as Record<string, unknown>), hvTable ? "sandboxers.vmm.hypervisor." : "hypervisor.");
    }
    checkDirLength(single && flags["dir"] !== undefined ? "--dir" : `config sandboxers.${kind}.dir`, resolved.dir);
    sandboxer[kind] = { ...resolved, hypervisor };
  }
  if ((flags["listen"] !== undefined || flags["dir"] !== undefined || flags["sandboxApi"] !== undefined) && top.sandboxers.length !== 1) {
    throw new RuntimeError(Code.InvalidArgument, "--listen, --dir and --sandbox-api apply to a single sandboxer; use the config file for several");
  }
  return { ...top, sandboxers: top.sandboxers, sandboxer, limits };
}

/**
 * Longest --dir / --state-dir, in bytes. Sockets below them have no limit (see
 * src/fs/long-socket-path.ts); what remains is PATH_MAX (4096) for the files the runtime
 * makes below them: pod and container dirs named by ids (at most 76 bytes each), rootfs
 * mount points, a guest's shared dir. 3072 leaves 1 KiB for those.
 */
export const MAX_DIR_BYTES = 3072;
/** Longest name of one path component (NAME_MAX): mkdir fails with ENAMETOOLONG beyond it. */
const MAX_NAME_BYTES = 255;

/** Rejects a state directory the runtime truly cannot use, naming the flag or key it came from. */
function checkDirLength(source: string, dir: string): void {
  const n = Buffer.byteLength(dir);
  if (n > MAX_DIR_BYTES) {
    throw new RuntimeError(Code.InvalidArgument, `${source}: ${n} bytes is too long; at most ${MAX_DIR_BYTES}, so that the runtime's files below it stay under PATH_MAX (4096)`);
  }
  const long = dir.split("/").find((c) => Buffer.byteLength(c) > MAX_NAME_BYTES);
  if (long !== undefined) {
    throw new RuntimeError(Code.InvalidArgument, `${source}: the component ${JSON.stringify(`${long.slice(0, 40)}…`)} is ${Buffer.byteLength(long)} bytes; a file name may have at most ${MAX_NAME_BYTES}`);
  }
}

function pick(o: Partial<Record<string, unknown>>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** Where a sandboxer's Task API socket lives (served by kuasar-endpoint, dialled by containerd by name). */
export function taskSocketPath(o: SandboxerOptions): string {
  return shortSocketPath(join(o.dir, "task.sock"));
}

/** Where container bundles made for the kuasar-io fork's Prepare live: beside the pods, never inside `pods/` (whose entries are judged as pods). */
export function preparedBundlesDir(o: SandboxerOptions): string {
  return join(o.dir, "bundles");
}
