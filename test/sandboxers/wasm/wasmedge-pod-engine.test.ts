import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../../src/errors/code.js";
import { RunnerExit, type WasmLaunch } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { defaultWasmHostLibDir, locateWasmEdgePod, WasmEdgePodEngine } from "../../../src/sandboxers/wasm/wasmedge-pod-engine.js";
import { bigInitialMemoryModule, echoArgsEnvFileModule, foreignImportModule, infiniteLoopModule, memoryHogModule, trapModule } from "../../../testing/wat-modules.js";
import { releaseStart, startCommand, waitForStartFifo, within, workspace, type Workspace } from "./runner-process.js";
import { processesWithCwd, wasmEdgePodPrograms, wasmEdgePodSkip } from "../../../testing/wasm-pod-host.js";

const programs = wasmEdgePodPrograms;
const skip = wasmEdgePodSkip;

function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1]) === pid;
      } catch {
        return false;
      }
    });
}

/** A workspace whose wasm host (started by the first runner) is killed, by pid, after the test. */
function podWorkspace(t: TestContext): Workspace {
  const ws = workspace(t);
  t.after(() => {
    for (const pid of processesWithCwd(ws.dir)) process.kill(pid, "SIGKILL");
  });
  return ws;
}

/** A module file of its own in the workspace's root, and a launch of it (a container of the pod). */
function container(ws: Workspace, name: string, module: Uint8Array, overrides: Partial<WasmLaunch> = {}): WasmLaunch {
  writeFileSync(join(ws.rootfs, `${name}.wasm`), module);
  return { ...ws.launch(undefined), module: join(ws.rootfs, `${name}.wasm`), args: [`/${name}.wasm`], oomMarker: join(ws.dir, `${name}.oom`), ...overrides };
}

describe("WasmEdgePodEngine", () => {
  it("runs kuasar-wasm-run with the launch in its environment, numbered", () => {
    const engine = new WasmEdgePodEngine({ runBinary: "/k/run", hostArgv: ["/ld.so", "--library-path", "/lib", "/k/host"] });
    const launch: WasmLaunch = {
      module: "/p/c1/rootfs/app.wasm",
      args: ["/app.wasm", "a b"],
      env: ["GREETING=hi", "NOEQUALS"],
      preopens: { "/": "/p/c1/rootfs", "/data": "/vol" },
      cwd: "/",
      memoryLimitBytes: 2 << 20,
      startFifo: "/p/wasm/c1.start",
      oomMarker: "/p/wasm/c1.oom",
    };
    assert.deepEqual(engine.command(launch), {
      argv: ["/k/run"],
      env: [
        "KW_HOST_DIR=/p/wasm", "KW_MODULE=/p/c1/rootfs/app.wasm", "KW_OOM=/p/wasm/c1.oom", "KW_START_FIFO=/p/wasm/c1.start", "KW_PIDFILE=/p/wasm/c1.instance",
        "KW_HOST_0=/ld.so", "KW_HOST_1=--library-path", "KW_HOST_2=/lib", "KW_HOST_3=/k/host",
        "KW_ROOT=/p/c1/rootfs", "KW_ARG_0=/app.wasm", "KW_ARG_1=a b", "KW_ENV_0=GREETING=hi",
        "KW_DIR_0=/:/p/c1/rootfs", "KW_DIR_1=/data:/vol", "KW_PAGES=32", "KW_MEMORY_LIMIT=2097152",
      ],
    });
    assert.throws(() => engine.command({ ...launch, preopens: { "/a:b": "/x" } }), { code: Code.InvalidArgument });
  });

  it("puts the host's own libraries (the LLVM stand-in) before WasmEdge's, only when they are there", { skip }, () => {
    const libs = (o: ReturnType<typeof locateWasmEdgePod>) => o.hostArgv[o.hostArgv.indexOf("--library-path") + 1];
    assert.equal(libs(locateWasmEdgePod({ hostLibDir: "/nonexistent/lib" })), libs(locateWasmEdgePod({ hostLibDir: "/nonexistent/lib" })).split(":")[0]);
    if (existsSync(defaultWasmHostLibDir)) assert.equal(libs(programs!).split(":")[0], defaultWasmHostLibDir);
  });

  it("brings the pod's host up with KW_WARM, nothing else of a launch", () => {
    const engine = new WasmEdgePodEngine({ runBinary: "/k/run", hostArgv: ["/ld.so", "/k/host"] });
    assert.deepEqual(engine.warm("/p/wasm"), { argv: ["/k/run"], env: ["KW_HOST_DIR=/p/wasm", "KW_WARM=1", "KW_HOST_0=/ld.so", "KW_HOST_1=/k/host"] });
    assert.throws(() => engine.warm("p/wasm"), { code: Code.InvalidArgument });
  });

  it("the warm-up exits 0 once the host listens, starts no second host, and containers then run on that host", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const warm = startCommand(t, engine.warm(ws.dir));
    assert.deepEqual(await warm.exited, { code: 0, signal: null });
    assert.ok(existsSync(join(ws.dir, "wasm-host.sock")), "listening when the warm-up exits");
    const hosts = processesWithCwd(ws.dir);
    assert.equal(hosts.length, 1);
    const again = startCommand(t, engine.warm(ws.dir));
    assert.deepEqual(await again.exited, { code: 0, signal: null });
    assert.deepEqual(processesWithCwd(ws.dir), hosts, "the host that answers is kept");
    const trap = startCommand(t, engine.command(container(ws, "trap", await trapModule())));
    assert.deepEqual(await trap.exited, { code: RunnerExit.Trap, signal: null });
    assert.deepEqual(processesWithCwd(ws.dir), hosts);
  });

  it("says what is missing", () => {
    assert.throws(() => locateWasmEdgePod({ runBinary: "/nonexistent/run" }), { code: Code.FailedPrecondition, message: /kuasar-wasm-run not found at \/nonexistent\/run/ });
  });

  it("runs module (a) after Start: argv[0] as given, env, a preopened volume, exit 5; fails a bad module at Create", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const l = container(ws, "app", await echoArgsEnvFileModule(), { args: ["/app.wasm", "hello"], env: ["GREETING=hi"], preopens: { "/": ws.rootfs, "/data": ws.data }, startFifo: ws.makeFifo() });
    const r = startCommand(t, engine.command(l));
    await sleep(50);
    assert.equal(r.stdout(), "", "nothing runs before Start");
    await releaseStart(r, ws.fifo);
    assert.deepEqual(await r.exited, { code: 5, signal: null });
    assert.equal(r.stdout(), "arg: /app.wasm\narg: hello\nGREETING=hi\n");
    assert.equal(readFileSync(join(ws.data, "out.txt"), "utf8"), "written by wasm\n");

    const bad = startCommand(t, engine.command(container(ws, "bad", new TextEncoder().encode("not wasm"))));
    assert.deepEqual(await bad.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(bad.stderr(), /cannot load wasm module \/bad\.wasm/);
    const foreign = startCommand(t, engine.command(container(ws, "foreign", await foreignImportModule())));
    assert.deepEqual(await foreign.exited, { code: RunnerExit.CannotLoad, signal: null });
    const missing = startCommand(t, engine.command({ ...container(ws, "gone", new Uint8Array()), module: join(ws.rootfs, "none.wasm") }));
    assert.deepEqual(await missing.exited, { code: RunnerExit.NotFound, signal: null });
  });

  it("one host per pod, a fork per container: one container traps, the other keeps running until its SIGTERM", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const loop = startCommand(t, engine.command(container(ws, "loop", await infiniteLoopModule())));
    await loop.waitForStdout("looping");
    const trap = startCommand(t, engine.command(container(ws, "trap", await trapModule())));
    assert.deepEqual(await trap.exited, { code: RunnerExit.Trap, signal: null });
    assert.match(trap.stderr(), /wasm trap: unreachable/);
    const hosts = processesWithCwd(ws.dir);
    assert.equal(hosts.length, 1, "one host for both containers");
    assert.equal(childrenOf(hosts[0]!).length, 1, "the looping container's instance still runs");
    assert.equal(loop.child.exitCode, null);
    loop.child.kill("SIGTERM");
    assert.deepEqual(await loop.exited, { code: null, signal: "SIGTERM" });
    assert.deepEqual(childrenOf(hosts[0]!), []);
  });

  it("an instance holds no other container's stdio: a created sibling's output ends with its runner", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const created = startCommand(t, engine.command(container(ws, "later", await trapModule(), { startFifo: ws.makeFifo() })));
    await waitForStartFifo(created, ws.fifo); // loaded by the host, waiting for Start
    const loop = startCommand(t, engine.command(container(ws, "loop", await infiniteLoopModule())));
    await loop.waitForStdout("looping"); // forked after the sibling's stdio reached the host
    const [host] = processesWithCwd(ws.dir);
    const [instance] = childrenOf(host!);
    const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`));
    const siblingOut = fdsOf(created.child.pid!).slice(1, 3); // its stdout and stderr pipes
    assert.deepEqual(fdsOf(instance!).filter((f) => siblingOut.includes(f)), []);
    created.child.kill("SIGKILL");
    // 'close' (what `exited` waits for) needs the sibling's stdout and stderr closed everywhere.
    assert.deepEqual(await within(5000, created.exited, "the created sibling's output to end"), { code: null, signal: "SIGKILL" });
    loop.child.kill("SIGKILL");
  });

  it("the host leaves once it has had no container for its idle time, and a later runner starts another", { skip }, async (t) => {
    const ws = podWorkspace(t);
    // The host's argv with a short idle time (the engine's default host idles 30 s).
    const engine = new WasmEdgePodEngine({ ...programs!, hostArgv: [...programs!.hostArgv, "--idle-ms=300"] });
    const first = startCommand(t, engine.command(container(ws, "trap", await trapModule())));
    assert.deepEqual(await first.exited, { code: RunnerExit.Trap, signal: null });
    const [host] = processesWithCwd(ws.dir);
    assert.ok(host, "a host serves the pod");
    for (let i = 0; i < 300 && processesWithCwd(ws.dir).includes(host); i++) await sleep(10);
    assert.ok(!processesWithCwd(ws.dir).includes(host), "the idle host left");
    assert.equal(existsSync(join(ws.dir, "wasm-host.sock")), false);
    const second = startCommand(t, engine.command(container(ws, "trap2", await trapModule())));
    assert.deepEqual(await second.exited, { code: RunnerExit.Trap, signal: null });
  });

  it("a runner killed with SIGKILL takes its instance with it", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const loop = startCommand(t, engine.command(container(ws, "loop", await infiniteLoopModule())));
    await loop.waitForStdout("looping");
    const [host] = processesWithCwd(ws.dir);
    assert.equal(childrenOf(host!).length, 1);
    // The host names the instance (Pause and Resume signal it): the host's one child.
    const instance = Number(readFileSync(join(ws.dir, "loop.instance"), "utf8"));
    assert.deepEqual(childrenOf(host!), [instance]);
    loop.child.kill("SIGKILL");
    await loop.exited;
    for (let i = 0; i < 200 && childrenOf(host!).length > 0; i++) await sleep(10);
    assert.deepEqual(childrenOf(host!), []);
  });

  it("a host killed with SIGKILL takes its instances with it: each started runner ends by SIGKILL (137), as its instance did", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const loop = startCommand(t, engine.command(container(ws, "loop", await infiniteLoopModule())));
    await loop.waitForStdout("looping");
    const [host] = processesWithCwd(ws.dir);
    const instance = Number(readFileSync(join(ws.dir, "loop.instance"), "utf8"));
    assert.deepEqual(childrenOf(host!), [instance]);
    process.kill(host!, "SIGKILL");
    assert.deepEqual(await loop.exited, { code: null, signal: "SIGKILL" });
    assert.match(loop.stderr(), /the pod's wasm host went away/);
    for (let i = 0; i < 200 && existsSync(`/proc/${instance}`); i++) await sleep(10);
    assert.equal(existsSync(`/proc/${instance}`), false, "the instance died with its host");
  });

  it("caps each container's memory on its own: 137 and the OOM marker over the cap, the same module uncapped runs", { skip }, async (t) => {
    const ws = podWorkspace(t);
    const engine = new WasmEdgePodEngine(programs!);
    const capped = container(ws, "big", await bigInitialMemoryModule(64), { memoryLimitBytes: 2 << 20 });
    const r = startCommand(t, engine.command(capped));
    assert.deepEqual(await r.exited, { code: RunnerExit.MemoryLimit, signal: null });
    assert.deepEqual(JSON.parse(readFileSync(capped.oomMarker, "utf8")), { memoryLimitBytes: 2 << 20 });
    const free = startCommand(t, engine.command(container(ws, "big2", await bigInitialMemoryModule(64))));
    assert.deepEqual(await free.exited, { code: 0, signal: null });

    const hog = container(ws, "hog", await memoryHogModule("trap"), { memoryLimitBytes: 4 << 20 });
    const h = startCommand(t, engine.command(hog));
    assert.deepEqual(await h.exited, { code: RunnerExit.MemoryLimit, signal: null });
    assert.match(h.stderr(), /exceeded its memory limit of 4194304 bytes/);
    assert.ok(existsSync(hog.oomMarker));
  });
});
