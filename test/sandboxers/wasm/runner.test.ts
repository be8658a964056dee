import assert from "node:assert/strict";
import { closeSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeWasiEngine } from "../../../src/sandboxers/wasm/node-wasi-engine.js";
import { LAUNCH_ENV, RunnerExit, type WasmLaunch } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { memoryOf, releaseStart, startCommand, waitForStartFifo, within, workspace } from "./runner-process.js";
import {
  bigInitialMemoryModule,
  echoArgsEnvFileModule,
  foreignImportModule,
  infiniteLoopModule,
  memoryHogModule,
  stderrModule,
  trapModule,
} from "../../../testing/wat-modules.js";

const engine = new NodeWasiEngine();
const TWO_MIB = 2 * 1024 * 1024;

function run(t: Parameters<typeof startCommand>[0], launch: WasmLaunch) {
  return startCommand(t, engine.command(launch));
}

describe("wasm runner (node:wasi)", () => {
  it("passes args and env, preopens a volume, and exits with proc_exit's code", async (t) => {
    const ws = workspace(t);
    const launch = ws.launch(await echoArgsEnvFileModule(), {
      args: ["/app.wasm", "hello", "two words"],
      env: ["GREETING=hi there", "OTHER=x", "NOEQUALS"],
      preopens: { "/": ws.rootfs, "/data": ws.data },
    });
    const r = run(t, launch);
    assert.deepEqual(await r.exited, { code: 5, signal: null });
    assert.equal(r.stdout(), "arg: /app.wasm\narg: hello\narg: two words\nGREETING=hi there\n");
    assert.equal(r.stderr(), "");
    assert.equal(readFileSync(join(ws.data, "out.txt"), "utf8"), "written by wasm\n");
    assert.equal(existsSync(join(ws.rootfs, "data", "out.txt")), false);
    assert.equal(existsSync(ws.oomMarker), false);
  });

  it("runs nothing before the start FIFO gets its byte", async (t) => {
    const ws = workspace(t);
    const launch = ws.launch(await echoArgsEnvFileModule(), { preopens: { "/": ws.rootfs, "/data": ws.data }, startFifo: ws.makeFifo() });
    const started = performance.now();
    const r = run(t, launch);
    const fd = await waitForStartFifo(r, ws.fifo);
    const blockedMs = performance.now() - started;
    const mem = memoryOf(r.child.pid!);
    t.diagnostic(`runner blocked on the start FIFO after ${blockedMs.toFixed(1)} ms; RSS ${(mem.rssKiB / 1024).toFixed(1)} MiB, PSS ${(mem.pssKiB / 1024).toFixed(1)} MiB`);
    await sleep(200);
    assert.equal(r.stdout(), "");
    assert.equal(existsSync(join(ws.data, "out.txt")), false);
    assert.equal(r.child.exitCode, null);
    // Closing without a byte cancels the start; a fresh runner gets the real one.
    closeSync(fd);
    assert.deepEqual(await r.exited, { code: RunnerExit.RuntimeFailure, signal: null });
    assert.match(r.stderr(), /start FIFO closed before start/);

    const r2 = run(t, launch);
    await releaseStart(r2, ws.fifo);
    assert.deepEqual(await r2.exited, { code: 5, signal: null });
    assert.match(r2.stdout(), /^arg: \/app\.wasm\n/);
  });

  it("writes the module's stderr and exits 0 when _start returns", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await stderrModule()));
    assert.deepEqual(await r.exited, { code: 0, signal: null });
    assert.equal(r.stdout(), "");
    assert.equal(r.stderr(), "to stderr\n");
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`stops a module in an infinite loop with ${signal} at once`, async (t) => {
      const ws = workspace(t);
      const r = run(t, ws.launch(await infiniteLoopModule()));
      await r.waitForStdout("looping\n");
      r.child.kill(signal);
      assert.deepEqual(await within(1_000, r.exited, `exit after ${signal}`), { code: null, signal });
    });
  }

  it("dies on SIGTERM while waiting on the start FIFO", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await infiniteLoopModule(), { startFifo: ws.makeFifo() }));
    const fd = await waitForStartFifo(r, ws.fifo);
    t.after(() => closeSync(fd));
    r.child.kill("SIGTERM");
    assert.deepEqual(await within(1_000, r.exited, "exit after SIGTERM"), { code: null, signal: "SIGTERM" });
    assert.equal(r.stdout(), "");
  });

  for (const onFailure of ["trap", "exit"] as const) {
    it(`exits 137 with a marker when memory.grow hits the limit (module ${onFailure}s)`, async (t) => {
      const ws = workspace(t);
      const r = run(t, ws.launch(await memoryHogModule(onFailure), { memoryLimitBytes: TWO_MIB }));
      assert.deepEqual(await r.exited, { code: RunnerExit.MemoryLimit, signal: null });
      assert.equal(r.stderr(), `wasm module exceeded its memory limit of ${TWO_MIB} bytes\n`);
      assert.deepEqual(JSON.parse(readFileSync(ws.oomMarker, "utf8")), { memoryLimitBytes: TWO_MIB });
    });
  }

  it("exits 137 when the initial memory is above the limit", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await bigInitialMemoryModule(64), { memoryLimitBytes: TWO_MIB }));
    assert.deepEqual(await r.exited, { code: RunnerExit.MemoryLimit, signal: null });
    assert.match(r.stderr(), /exceeded its memory limit of 2097152 bytes/);
    assert.equal(existsSync(ws.oomMarker), true);
  });

  it("keeps a module's own non-zero exit when memory is below the limit", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await echoArgsEnvFileModule(), { preopens: { "/": ws.rootfs, "/data": ws.data }, memoryLimitBytes: TWO_MIB }));
    assert.deepEqual(await r.exited, { code: 5, signal: null });
    assert.equal(existsSync(ws.oomMarker), false);
  });

  it("reports a trap on stderr and exits 134", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await trapModule()));
    assert.deepEqual(await r.exited, { code: RunnerExit.Trap, signal: null });
    assert.equal(r.stderr(), "wasm trap: unreachable\n");
  });

  it("exits 127 for a missing module, before opening the start FIFO", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(undefined, { startFifo: ws.makeFifo() }));
    assert.deepEqual(await r.exited, { code: RunnerExit.NotFound, signal: null });
    assert.equal(r.stderr(), "wasm module /app.wasm not found\n");
  });

  it("exits 126 for a module that is not valid wasm", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(new TextEncoder().encode("#!/bin/sh\necho not wasm\n"), { startFifo: ws.makeFifo() }));
    assert.deepEqual(await r.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(r.stderr(), /^cannot load wasm module \/app\.wasm: /);
  });

  it("exits 126 for a module importing outside WASI preview1", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await foreignImportModule()));
    assert.deepEqual(await r.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(r.stderr(), /imports env\.host_thing; only wasi_snapshot_preview1 is provided/);
  });

  it("exits 126 when a preopened directory is missing", async (t) => {
    const ws = workspace(t);
    const r = run(t, ws.launch(await stderrModule(), { preopens: { "/": ws.rootfs, "/data": join(ws.dir, "nope") } }));
    assert.deepEqual(await r.exited, { code: RunnerExit.CannotLoad, signal: null });
    assert.match(r.stderr(), /preopened directories/);
  });

  it("exits 125 on a malformed launch", async (t) => {
    const ws = workspace(t);
    const command = engine.command(ws.launch(undefined));
    const r = startCommand(t, { argv: command.argv, env: [`${LAUNCH_ENV}=not-json`] });
    assert.deepEqual(await r.exited, { code: RunnerExit.RuntimeFailure, signal: null });
    assert.match(r.stderr(), /^wasm runner: wasm launch: /);
  });
});
