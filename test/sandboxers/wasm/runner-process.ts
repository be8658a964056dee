/**
 * Helpers that run a wasm engine's command as a real child process, the way
 * the pod's holder will: the command's argv and environment, stdout/stderr
 * captured, a start FIFO released from the test.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { WasmCommand, WasmLaunch } from "../../../src/sandboxers/wasm/wasm-engine.js";

/** A container's launch as the engines' command tests take it apart (paths need not exist). */
export function sampleLaunch(over: Partial<WasmLaunch> = {}): WasmLaunch {
  return {
    module: "/run/c1/rootfs/app.wasm",
    args: ["/app.wasm", "a b", "--flag"],
    env: ["GREETING=hi", "NOEQUALS"],
    preopens: { "/": "/run/c1/rootfs", "/data": "/var/lib/vol" },
    cwd: "/",
    memoryLimitBytes: 2 * 1024 * 1024,
    startFifo: "/run/c1/start.fifo",
    oomMarker: "/run/c1/oom",
    ...over,
  };
}

/** How a child ended: an exit code or a signal. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started runner. */
export interface RunnerProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Set once the child has exited. */
  exited: Promise<Exit>;
  /** Resolves when stdout contains `text`; rejects if the child exits first. */
  waitForStdout(text: string): Promise<void>;
}

/** A temporary container layout: `rootfs/` (preopened as `/`), `data/` (a volume), a start FIFO path, an OOM marker path. */
export interface Workspace {
  dir: string;
  rootfs: string;
  data: string;
  fifo: string;
  oomMarker: string;
  /** Writes the module as `rootfs/app.wasm` and returns a launch for it (`args[0]` = `/app.wasm`), overridable. */
  launch(module: Uint8Array | undefined, overrides?: Partial<WasmLaunch>): WasmLaunch;
  /** Creates the start FIFO (mkfifo). */
  makeFifo(): string;
}

/** A workspace under the system temp dir, removed after the test. */
export function workspace(t: TestContext): Workspace {
  const dir = mkdtempSync(join(tmpdir(), "wasm-runner-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rootfs = join(dir, "rootfs");
  const data = join(dir, "data");
  mkdirSync(rootfs);
  mkdirSync(data);
  const ws: Workspace = {
    dir,
    rootfs,
    data,
    fifo: join(dir, "start.fifo"),
    oomMarker: join(dir, "oom"),
    launch(module, overrides = {}) {
      if (module) writeFileSync(join(rootfs, "app.wasm"), module);
      return {
        module: join(rootfs, "app.wasm"),
        args: ["/app.wasm"],
        env: [],
        preopens: { "/": rootfs },
        cwd: "/",
        memoryLimitBytes: 0,
        startFifo: "",
        oomMarker: ws.oomMarker,
        ...overrides,
      };
    },
    makeFifo() {
      execFileSync("mkfifo", [ws.fifo]);
      return ws.fifo;
    },
  };
  return ws;
}

/** Spawns `command` exactly as given (argv, complete environment), stdin from /dev/null; SIGKILLs it after the test if still running. */
export function startCommand(t: TestContext, command: WasmCommand): RunnerProcess {
  const env: Record<string, string> = {};
  for (const e of command.env) {
    const eq = e.indexOf("=");
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const child = spawn(command.argv[0]!, command.argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<Exit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout: (text) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (out.includes(text)) {
            child.stdout!.off("data", check);
            resolve();
          }
        };
        child.stdout!.on("data", check);
        void exited.then((e) => reject(new Error(`exited (${e.code ?? e.signal}) before printing ${JSON.stringify(text)}; stderr: ${err}`)));
        check();
      }),
  };
}

/**
 * Waits until the runner has opened the start FIFO for reading (a
 * non-blocking open for writing stops failing with ENXIO) and returns the
 * write end. Rejects if the runner exits first.
 */
export async function waitForStartFifo(runner: RunnerProcess, fifo: string, timeoutMs = 10_000): Promise<number> {
  let gone: Exit | undefined;
  void runner.exited.then((e) => (gone = e));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENXIO") throw err;
    }
    if (gone) throw new Error(`runner exited (${gone.code ?? gone.signal}) before opening the start FIFO; stderr: ${runner.stderr()}`);
    if (Date.now() > deadline) throw new Error("runner never opened the start FIFO");
    await sleep(2);
  }
}

/** Releases a runner waiting on its start FIFO: one byte, then close. */
export async function releaseStart(runner: RunnerProcess, fifo: string): Promise<void> {
  const fd = await waitForStartFifo(runner, fifo);
  writeSync(fd, "\n");
  closeSync(fd);
}

/** Resident and proportional set size of a process in KiB, from /proc/<pid>/smaps_rollup. */
export function memoryOf(pid: number): { rssKiB: number; pssKiB: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(rollup)?.[1] ?? NaN);
  return { rssKiB: field("Rss"), pssKiB: field("Pss") };
}

/** Rejects if `promise` is not settled within `ms`. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  const ac = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: ac.signal }).then(() => Promise.reject(new Error(`${what} took over ${ms} ms`)))]);
  } finally {
    ac.abort();
  }
}
