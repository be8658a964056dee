import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";

/**
 * Everything needed to run one wasm container: what the wasm sandboxer knows
 * after reading the OCI spec, in host terms. Plain JSON, so the node engine can
 * hand it to the runner process unchanged.
 */
export interface WasmLaunch {
  /** Absolute host path of the `.wasm` module (inside the container rootfs). */
  module: string;
  /** WASI argv; `args[0]` is the module path as the container sees it (OCI `process.args`). */
  args: string[];
  /** WASI environment, `NAME=value` entries (OCI `process.env`). Entries without `=` are dropped. */
  env: string[];
  /**
   * WASI preopened directories, guest path → host directory: the rootfs as
   * `/`, plus each bind mount's destination → source. Opened in key order
   * (first one is WASI fd 3).
   */
  preopens: Record<string, string>;
  /**
   * Working directory (OCI `process.cwd`), a guest path. WASI preview1 has no
   * working directory: wasi-libc starts every module at `/`, under either
   * engine, so this is carried for logs and future engines only.
   */
  cwd: string;
  /** Cap on the module's linear memory in bytes, rounded down to whole 64 KiB pages (minimum one page); 0 = none. From the container's memory limit. */
  memoryLimitBytes: number;
  /**
   * FIFO that gates the start (containerd's Create → Start split). The runner
   * loads the module first, then opens this FIFO for reading and waits for one
   * byte; the daemon releases it on Start by opening the FIFO for writing,
   * writing one byte (`"\n"` works for every engine) and closing it. A writer
   * that closes without writing cancels the start (exit {@link RunnerExit.RuntimeFailure}).
   * Empty string: no gate, the module runs as soon as it is loaded.
   */
  startFifo: string;
  /** Host file the runner creates when the memory limit stopped the module (before exiting {@link RunnerExit.MemoryLimit}). */
  oomMarker: string;
  /**
   * Set when `module` is a WASI preview 2 component and the engine runs components
   * transpiled ({@link WasmEngine.components} `"transpiled"`): the host directory of its
   * transpiled JS (a `ComponentCache` entry). Absent for a core module.
   */
  component?: string;
}

/** What the launcher (the pod's holder) executes: argv[0] is an absolute path, `env` the complete environment. */
export interface WasmCommand {
  argv: string[];
  env: string[];
}

/**
 * A way to run WASI preview1 modules: turns a {@link WasmLaunch} into a
 * command line. Pure; it starts nothing. Implementations: `NodeWasiEngine`
 * (default, V8 through `node:wasi`) and `WasmtimeEngine` (a system binary).
 */
export interface WasmEngine {
  /** Engine name as configured (`"node"`, `"wasmtime"`). */
  readonly name: string;
  /**
   * How the engine runs WASI preview 2 components (`wasi:cli/command`): `"transpiled"`
   * (given {@link WasmLaunch.component}, the node runner), `"native"` (the engine reads them
   * itself) or `"none"` (refused at Create).
   */
  readonly components: "transpiled" | "native" | "none";
  /** The command that loads the module, waits on the start FIFO, runs it, and exits with {@link RunnerExit} codes. */
  command(launch: WasmLaunch): WasmCommand;
  /**
   * For an engine with a resident process per pod: the command that brings it up in
   * `hostDir` (the pod's wasm dir) and exits 0 once it serves, run at the pod's start so
   * that its first container does not wait for it. Absent: nothing to bring up.
   */
  warm?(hostDir: string): WasmCommand;
  /**
   * For an engine whose pod process can be a fork of a node-wide template: the process's
   * command, which with `--zygote` is that template (`wasm-host-zygote.ts`); the pod's start
   * asks it first, and falls back to {@link warm}. Absent: {@link warm} alone.
   */
  readonly zygoteArgv?: readonly string[];
}

/**
 * Exit statuses of a wasm runner, beside the module's own `proc_exit` code
 * (which passes through, truncated to 8 bits by the kernel; a module exiting
 * with one of these numbers is indistinguishable from the runner saying so,
 * as with any container process). The numbers follow docker/runc (125–127)
 * and the kernel's 128+signal convention.
 *
 * | status | meaning | when |
 * |---|---|---|
 * | 0–255 | the module's `proc_exit(code)`; 0 also when `_start` returns; a component's `wasi:cli/exit` `exit-with-code`, else 0/1 for `exit(ok/err)` or `run` returning ok/err | after Start |
 * | 125 | the runner itself failed: bad launch argument, start FIFO unusable or closed without a byte | any time |
 * | 126 | module cannot be loaded: unreadable, invalid wasm, not a WASI command (no `_start`/`memory` export, imports outside `wasi_snapshot_preview1`; a component: no `wasi:cli/run` export, imports the host lacks), or a preopen directory cannot be opened | before the start FIFO (Create) |
 * | 127 | module file not found | before the start FIFO (Create) |
 * | 134 | the module trapped (128+SIGABRT, as `wasmtime run` does); stderr has `wasm trap: <message>` | after Start |
 * | 137 | the memory limit stopped the module (128+SIGKILL, like the OOM killer): its initial memory is above the cap, or it trapped or exited non-zero with its memory at the cap; stderr has `wasm module exceeded its memory limit of N bytes`, and `oomMarker` exists (node engine only) | after Start |
 * | signal SIGTERM (143) / SIGKILL (137) | killed; the runner keeps the default dispositions, so a module in an endless loop dies at once | any time |
 *
 * A SIGKILL and the memory limit share 137: the OOM marker tells them apart.
 */
export const RunnerExit = {
  RuntimeFailure: 125,
  CannotLoad: 126,
  NotFound: 127,
  Trap: 134,
  MemoryLimit: 137,
} as const;

/** A {@link RunnerExit} value. */
export type RunnerExit = (typeof RunnerExit)[keyof typeof RunnerExit];

/** Bytes in one WebAssembly page. */
export const WASM_PAGE_BYTES = 65_536;

/** Environment variable that carries the encoded {@link WasmLaunch} to the node runner. */
export const LAUNCH_ENV = "KUASAR_WASM_LAUNCH";

/** Whole wasm pages that fit in `limitBytes` (at least one); 0 when there is no limit. */
export function wasmPagesForLimit(limitBytes: number): number {
  if (limitBytes <= 0) return 0;
  return Math.max(1, Math.floor(limitBytes / WASM_PAGE_BYTES));
}

/**
 * A launch's preopens as an engine CLI's `--dir` values, each spelled by `spell`
 * from the guest and host paths; InvalidArgument for a path holding the CLI's
 * `separator`, which the engine would split it at.
 */
export function preopenDirs(engine: string, preopens: Record<string, string>, separator: string, spell: (guest: string, host: string) => string): string[] {
  return Object.entries(preopens).map(([guest, host]) => {
    if (guest.includes(separator) || host.includes(separator)) {
      throw new RuntimeError(Code.InvalidArgument, `${engine} cannot preopen ${JSON.stringify(host)} as ${JSON.stringify(guest)}: ${JSON.stringify(separator)} is its separator`);
    }
    return spell(guest, host);
  });
}

/** The `NAME=value` entries of a launch's environment that WASI gets (those with a name). */
export function wasiEnv(env: string[]): string[] {
  return env.filter((e) => e.indexOf("=") > 0);
}

/** Checks a launch eagerly; throws InvalidArgument naming the bad field. */
export function validateLaunch(launch: WasmLaunch): WasmLaunch {
  const bad = (field: string, why: string): never => {
    throw new RuntimeError(Code.InvalidArgument, `wasm launch: ${field} ${why}`);
  };
  if (typeof launch.module !== "string" || !launch.module.startsWith("/")) bad("module", "must be an absolute host path");
  if (!Array.isArray(launch.args) || launch.args.length === 0 || !launch.args.every((a) => typeof a === "string")) bad("args", "must be a non-empty list of strings");
  if (!Array.isArray(launch.env) || !launch.env.every((e) => typeof e === "string")) bad("env", "must be a list of strings");
  if (typeof launch.preopens !== "object" || launch.preopens === null || Array.isArray(launch.preopens)) bad("preopens", "must be an object");
  for (const [guest, host] of Object.entries(launch.preopens)) {
    if (!guest.startsWith("/")) bad(`preopens[${JSON.stringify(guest)}]`, "guest path must be absolute");
    if (typeof host !== "string" || !host.startsWith("/")) bad(`preopens[${JSON.stringify(guest)}]`, "host path must be absolute");
  }
  if (typeof launch.cwd !== "string" || !launch.cwd.startsWith("/")) bad("cwd", "must be an absolute guest path");
  if (!Number.isSafeInteger(launch.memoryLimitBytes) || launch.memoryLimitBytes < 0) bad("memoryLimitBytes", "must be a non-negative integer");
  if (typeof launch.startFifo !== "string" || (launch.startFifo !== "" && !launch.startFifo.startsWith("/"))) bad("startFifo", "must be an absolute path or empty");
  if (typeof launch.oomMarker !== "string" || !launch.oomMarker.startsWith("/")) bad("oomMarker", "must be an absolute path");
  if (launch.component !== undefined && (typeof launch.component !== "string" || !launch.component.startsWith("/"))) bad("component", "must be an absolute host path");
  return launch;
}

/** Serializes a launch as base64url JSON (one argv- or env-safe token). */
export function encodeLaunch(launch: WasmLaunch): string {
  return Buffer.from(JSON.stringify(validateLaunch(launch))).toString("base64url");
}

/** Inverse of {@link encodeLaunch}; throws InvalidArgument on anything malformed. */
export function decodeLaunch(encoded: string): WasmLaunch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, "wasm launch: not base64url JSON", { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null) throw new RuntimeError(Code.InvalidArgument, "wasm launch: not an object");
  return validateLaunch(parsed as WasmLaunch);
}
