import assert from "node:assert/strict";
import { chmodSync, closeSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../../src/errors/code.js";
import { which } from "../../../src/fs/which.js";
import { RunnerExit } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { WasmtimeEngine } from "../../../src/sandboxers/wasm/wasmtime-engine.js";
import { releaseStart, sampleLaunch, startCommand, waitForStartFifo, workspace, type Workspace } from "./runner-process.js";
import { echoArgsEnvFileModule } from "../../../testing/wat-modules.js";

const launch = sampleLaunch();

/** A stand-in `wasmtime` that prints its pid and its arguments, one per line, and exits 7. */
function fakeWasmtime(ws: Workspace): string {
  const bin = join(ws.dir, "bin");
  mkdirSync(bin);
  const path = join(bin, "wasmtime");
  writeFileSync(path, "#!/bin/sh\necho \"pid $$\"\nprintf '%s\\n' \"$@\"\nexit 7\n");
  chmodSync(path, 0o755);
  return path;
}

describe("WasmtimeEngine", () => {
  it("builds wasmtime run behind the start gate", () => {
    const engine = new WasmtimeEngine({ binary: "/usr/local/bin/wasmtime", extraArgs: ["-C", "cache=y"], shell: "/bin/sh" });
    const { argv, env } = engine.command(launch);
    assert.deepEqual(argv.slice(0, 2), ["/bin/sh", "-c"]);
    assert.deepEqual(argv.slice(3), [
      "kuasar-wasm-gate", "/run/c1/rootfs/app.wasm", "/run/c1/start.fifo", "/app.wasm", "",
      "/usr/local/bin/wasmtime", "run", "-C", "cache=n", "-W", "max-memory-size=2097152", "-C", "cache=y",
      "--dir", "/run/c1/rootfs::/", "--dir", "/var/lib/vol::/data",
      "--env", "GREETING=hi",
      "--argv0", "/app.wasm", "--", "/run/c1/rootfs/app.wasm", "a b", "--flag",
    ]);
    assert.deepEqual(env, []);
  });

  it("omits max-memory-size without a limit", () => {
    const { argv } = new WasmtimeEngine({ binary: "/w", extraArgs: [], shell: "/bin/sh" }).command({ ...launch, memoryLimitBytes: 0 });
    assert.ok(!argv.some((a) => a.startsWith("max-memory-size")));
  });

  it("refuses paths containing its :: separator", () => {
    const engine = new WasmtimeEngine({ binary: "/w", extraArgs: [], shell: "/bin/sh" });
    assert.throws(() => engine.command({ ...launch, preopens: { "/a::b": "/x" } }), { code: Code.InvalidArgument });
  });

  it("gate: exits 127 for a missing module without touching the FIFO", async (t) => {
    const ws = workspace(t);
    const engine = new WasmtimeEngine({ binary: fakeWasmtime(ws), extraArgs: [], shell: "/bin/sh" });
    const r = startCommand(t, engine.command(ws.launch(undefined, { startFifo: ws.makeFifo() })));
    assert.deepEqual(await r.exited, { code: RunnerExit.NotFound, signal: null });
    assert.equal(r.stderr(), "wasm module /app.wasm not found\n");
  });

  it("gate: execs wasmtime only after the start byte", async (t) => {
    const ws = workspace(t);
    const engine = new WasmtimeEngine({ binary: fakeWasmtime(ws), extraArgs: [], shell: "/bin/sh" });
    const r = startCommand(t, engine.command(ws.launch(new Uint8Array([0, 0x61, 0x73, 0x6d]), { args: ["/app.wasm", "x"], startFifo: ws.makeFifo() })));
    const fd = await waitForStartFifo(r, ws.fifo);
    await sleep(100);
    assert.equal(r.stdout(), "");
    closeSync(fd);
    // Closed without a byte: cancelled.
    assert.deepEqual(await r.exited, { code: RunnerExit.RuntimeFailure, signal: null });
    assert.match(r.stderr(), /start FIFO closed before start/);

    const r2 = startCommand(t, engine.command(ws.launch(undefined, { args: ["/app.wasm", "x"], startFifo: ws.fifo })));
    await releaseStart(r2, ws.fifo);
    assert.deepEqual(await r2.exited, { code: 7, signal: null });
    // Same pid: the gate exec'd wasmtime, so signals sent to the runner reach it.
    assert.equal(r2.stdout().split("\n")[0], `pid ${r2.child.pid}`);
    assert.match(r2.stdout(), /\nrun\n-C\ncache=n\n--dir\n.*::\/\n--argv0\n\/app\.wasm\n--\n.*app\.wasm\nx\n$/s);
  });

  it("runs module (a) with a real wasmtime", { skip: which("wasmtime") ? false : "no wasmtime on PATH (Debian packages none; put a wasmtime >= 24 on PATH to run it)" }, async (t) => {
    const ws = workspace(t);
    const engine = new WasmtimeEngine({ binary: which("wasmtime")!, extraArgs: [], shell: "/bin/sh" });
    const l = ws.launch(await echoArgsEnvFileModule(), { args: ["/app.wasm", "hello"], env: ["GREETING=hi"], preopens: { "/": ws.rootfs, "/data": ws.data }, startFifo: ws.makeFifo() });
    const r = startCommand(t, engine.command(l));
    await releaseStart(r, ws.fifo);
    assert.deepEqual(await r.exited, { code: 5, signal: null });
    assert.equal(r.stdout(), "arg: /app.wasm\narg: hello\nGREETING=hi\n");
    assert.equal(readFileSync(join(ws.data, "out.txt"), "utf8"), "written by wasm\n");
  });
});
