import assert from "node:assert/strict";
import { closeSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { RunnerExit } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { WasmEdgeEngine } from "../../../src/sandboxers/wasm/wasmedge-engine.js";
import { locateWasmEdge } from "../../../src/sandboxers/wasm/wasmedge-location.js";
import { bigInitialMemoryModule, echoArgsEnvFileModule, infiniteLoopModule, memoryHogModule, trapModule } from "../../../testing/wat-modules.js";
import { releaseStart, sampleLaunch, startCommand, waitForStartFifo, workspace } from "./runner-process.js";

const launch = sampleLaunch();

/** The WasmEdge CLI of packaging/install-deps.sh (or PATH), undefined when neither is there. */
function wasmedge(): string[] | undefined {
  try {
    return locateWasmEdge("wasmedge");
  } catch {
    return undefined;
  }
}
const installed = wasmedge();
const skipReal = installed ? false : "WasmEdge is not installed: run `bash packaging/install-deps.sh` (it unpacks Debian trixie's into .deps/wasmedge)";

describe("WasmEdgeEngine", () => {
  it("builds wasmedge's command line behind the start gate, entering the root", () => {
    const engine = new WasmEdgeEngine({ wasmedge: ["/ld.so", "--library-path", "/lib", "/bin/wasmedge"], extraArgs: ["--enable-jit"], shell: "/bin/sh" });
    const { argv, env } = engine.command(launch);
    assert.deepEqual(argv.slice(0, 2), ["/bin/sh", "-c"]);
    assert.deepEqual(argv.slice(3), [
      "kuasar-wasm-gate", "/run/c1/rootfs/app.wasm", "/run/c1/start.fifo", "/app.wasm", "/run/c1/rootfs",
      "/ld.so", "--library-path", "/lib", "/bin/wasmedge", "--memory-page-limit", "32", "--enable-jit",
      "--dir", "/:/run/c1/rootfs", "--dir", "/data:/var/lib/vol",
      "--env", "GREETING=hi",
      "--", "app.wasm", "a b", "--flag",
    ]);
    assert.deepEqual(env, []);
  });

  it("refuses what its command line cannot say", () => {
    const engine = new WasmEdgeEngine({ wasmedge: ["/w"], extraArgs: [], shell: "/bin/sh" });
    assert.throws(() => engine.command({ ...launch, preopens: { "/": "/r", "/a:b": "/x" } }), { code: Code.InvalidArgument, message: /":" is its separator/ });
    assert.throws(() => engine.command({ ...launch, preopens: { "/data": "/x" } }), { code: Code.InvalidArgument, message: /preopens no \// });
    // An artifact's module is outside the root: named by its host path.
    assert.equal(engine.command({ ...launch, module: "/cache/abc.wasm" }).argv.at(-3), "/cache/abc.wasm");
  });

  it("runs module (a): args, env, a preopened volume, stdout and the exit code, only after Start", { skip: skipReal }, async (t) => {
    const ws = workspace(t);
    const engine = new WasmEdgeEngine({ wasmedge: installed!, extraArgs: [], shell: "/bin/sh" });
    const l = ws.launch(await echoArgsEnvFileModule(), { args: ["/app.wasm", "hello"], env: ["GREETING=hi"], preopens: { "/": ws.rootfs, "/data": ws.data }, startFifo: ws.makeFifo() });
    const r = startCommand(t, engine.command(l));
    closeSync(await waitForStartFifo(r, ws.fifo));
    // Closing without a byte cancels; a second run is released properly.
    assert.deepEqual(await r.exited, { code: RunnerExit.RuntimeFailure, signal: null });
    assert.equal(r.stdout(), "");
    const r2 = startCommand(t, engine.command(l));
    await releaseStart(r2, ws.fifo);
    assert.deepEqual(await r2.exited, { code: 5, signal: null });
    assert.equal(r2.stdout(), "arg: app.wasm\narg: hello\nGREETING=hi\n");
    assert.equal(readFileSync(join(ws.data, "out.txt"), "utf8"), "written by wasm\n");
  });

  it("exits 134 on a trap and 127 for a missing module", { skip: skipReal }, async (t) => {
    const ws = workspace(t);
    const engine = new WasmEdgeEngine({ wasmedge: installed!, extraArgs: [], shell: "/bin/sh" });
    const r = startCommand(t, engine.command(ws.launch(await trapModule())));
    assert.deepEqual(await r.exited, { code: RunnerExit.Trap, signal: null });
    // WasmEdge logs its own errors on stdout.
    assert.match(r.stdout(), /execution failed: unreachable/);
    const gone = startCommand(t, engine.command(ws.launch(undefined, { module: join(ws.rootfs, "none.wasm"), args: ["/none.wasm"] })));
    assert.deepEqual(await gone.exited, { code: RunnerExit.NotFound, signal: null });
  });

  it("caps memory: growth past the limit fails, an initial memory above it exits 137 with the OOM marker", { skip: skipReal }, async (t) => {
    const ws = workspace(t);
    const engine = new WasmEdgeEngine({ wasmedge: installed!, extraArgs: [], shell: "/bin/sh" });
    const hog = startCommand(t, engine.command(ws.launch(await memoryHogModule("exit"), { memoryLimitBytes: 2 << 20 })));
    const e = await hog.exited;
    assert.notEqual(e.code, 0);
    assert.match(hog.stdout(), /Memory grow page failed, exceeded limited 32 page/);
    assert.equal(existsSync(ws.oomMarker), false);

    const big = startCommand(t, engine.command(ws.launch(await bigInitialMemoryModule(64), { memoryLimitBytes: 2 << 20 })));
    assert.deepEqual(await big.exited, { code: RunnerExit.MemoryLimit, signal: null });
    assert.match(big.stderr(), /exceeded its memory limit of 2097152 bytes/);
    assert.deepEqual(JSON.parse(readFileSync(ws.oomMarker, "utf8")), { memoryLimitBytes: 2 << 20 });
  });

  it("keeps SIGTERM's default: a module in a loop dies at once", { skip: skipReal }, async (t) => {
    const ws = workspace(t);
    const engine = new WasmEdgeEngine({ wasmedge: installed!, extraArgs: [], shell: "/bin/sh" });
    const r = startCommand(t, engine.command(ws.launch(await infiniteLoopModule())));
    await r.waitForStdout("looping");
    r.child.kill("SIGTERM");
    assert.deepEqual(await r.exited, { code: null, signal: "SIGTERM" });
  });
});
