import assert from "node:assert/strict";
import { closeSync, existsSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ComponentCache } from "../../../src/sandboxers/wasm/component-cache.js";
import { JcoTranspiler } from "../../../src/sandboxers/wasm/jco-transpiler.js";
import { NodeWasiEngine } from "../../../src/sandboxers/wasm/node-wasi-engine.js";
import { RunnerExit, type WasmLaunch } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { echoReadComponent, loopComponent, memoryHogComponent, trapComponent } from "../../../testing/wasm-components.js";
import { memoryOf, startCommand, waitForStartFifo, workspace } from "./runner-process.js";

const engine = new NodeWasiEngine();

/** Real jco (in its child process) into one cache for the whole file: each component is transpiled once. */
let cacheDir = "";
let cache: ComponentCache;
before(() => {
  cacheDir = mkdtempSync(join(tmpdir(), "component-runner-cache-"));
  cache = new ComponentCache(cacheDir, new JcoTranspiler());
});
after(() => rmSync(cacheDir, { recursive: true, force: true }));

async function componentLaunch(launch: WasmLaunch): Promise<WasmLaunch> {
  return { ...launch, component: await cache.transpiled(launch.module) };
}

describe("wasm runner: WASI preview 2 components (node engine, jco + preview2-shim)", () => {
  it("passes args and env, reads a preopened volume, writes stdout, and exits with exit-with-code", async (t) => {
    const ws = workspace(t);
    writeFileSync(join(ws.data, "in.txt"), "read by a component\n");
    const started = performance.now();
    const launch = await componentLaunch(
      ws.launch(await echoReadComponent(42), { args: ["/app.wasm", "hello", "two words"], env: ["GREETING=hi there", "OTHER=x", "NOEQUALS"], preopens: { "/": ws.rootfs, "/data": ws.data } }),
    );
    const transpiledMs = performance.now() - started;
    const r = startCommand(t, engine.command(launch));
    assert.deepEqual(await r.exited, { code: 42, signal: null }, r.stderr());
    t.diagnostic(`fixture + transpile ${transpiledMs.toFixed(0)} ms, run ${(performance.now() - started - transpiledMs).toFixed(0)} ms (loaded host, 2 shared cores)`);
    assert.equal(r.stdout(), "arg: /app.wasm\narg: hello\narg: two words\nGREETING=hi there\nfile: read by a component\n");
    assert.equal(r.stderr(), "");
    assert.equal(existsSync(ws.oomMarker), false);
  });

  it("without /data exits 3 (the component's own code), and runs nothing before the start FIFO gets its byte", async (t) => {
    const ws = workspace(t);
    const launch = await componentLaunch(ws.launch(await echoReadComponent(42), { startFifo: ws.makeFifo() }));
    // Closing the write end without a byte cancels the start.
    const r = startCommand(t, engine.command(launch));
    closeSync(await waitForStartFifo(r, ws.fifo));
    assert.equal((await r.exited).code, RunnerExit.RuntimeFailure);
    const r2 = startCommand(t, engine.command(launch));
    const spawned = performance.now();
    const fd = await waitForStartFifo(r2, ws.fifo);
    const mem = memoryOf(r2.child.pid!);
    t.diagnostic(`component runner blocked on the start FIFO after ${(performance.now() - spawned).toFixed(0)} ms; RSS ${(mem.rssKiB / 1024).toFixed(1)} MiB, PSS ${(mem.pssKiB / 1024).toFixed(1)} MiB (loaded host)`);
    await sleep(100);
    assert.equal(r2.stdout(), "");
    writeSync(fd, "\n");
    closeSync(fd);
    assert.deepEqual(await r2.exited, { code: 3, signal: null }, r2.stderr());
    assert.equal(r2.stdout(), "arg: /app.wasm\n");
  });

  it("a trap exits 134 with the reason on stderr", async (t) => {
    const ws = workspace(t);
    const r = startCommand(t, engine.command(await componentLaunch(ws.launch(await trapComponent()))));
    assert.deepEqual(await r.exited, { code: RunnerExit.Trap, signal: null });
    assert.match(r.stderr(), /^wasm trap: /);
  });

  it("SIGTERM stops a component in an endless loop at once", async (t) => {
    const ws = workspace(t);
    const r = startCommand(t, engine.command(await componentLaunch(ws.launch(await loopComponent()))));
    await r.waitForStdout("looping\n");
    r.child.kill("SIGTERM");
    assert.deepEqual(await r.exited, { code: null, signal: "SIGTERM" });
  });

  it("the memory cap holds: a component growing past it exits 137 with the OOM marker", async (t) => {
    const ws = workspace(t);
    const r = startCommand(t, engine.command(await componentLaunch(ws.launch(await memoryHogComponent(), { memoryLimitBytes: 4 << 20 }))));
    assert.deepEqual(await r.exited, { code: RunnerExit.MemoryLimit, signal: null }, r.stderr());
    assert.match(r.stderr(), /exceeded its memory limit of 4194304 bytes/);
    assert.ok(existsSync(ws.oomMarker));
  });

  it("a component without its transpiled form is refused at load (126), not run as a module", async (t) => {
    const ws = workspace(t);
    const r = startCommand(t, engine.command(ws.launch(await echoReadComponent())));
    assert.deepEqual(await r.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(r.stderr(), /is a WASI preview 2 component, and its launch names no transpiled component/);
  });

  it("a damaged transpiled form is refused at load (126)", async (t) => {
    const ws = workspace(t);
    const launch = ws.launch(await echoReadComponent());
    const broken = join(ws.dir, "broken");
    const r = startCommand(t, engine.command({ ...launch, component: broken }));
    assert.deepEqual(await r.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(r.stderr(), /cannot load wasm component \/app\.wasm: its transpiled form/);
  });
});
