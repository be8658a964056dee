import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { NodeWasiEngine, defaultNodeWasiEngineOptions } from "../../../src/sandboxers/wasm/node-wasi-engine.js";
import { decodeLaunch, LAUNCH_ENV, wasmPagesForLimit } from "../../../src/sandboxers/wasm/wasm-engine.js";
import { Code } from "../../../src/errors/code.js";
import { sampleLaunch } from "./runner-process.js";

const launch = sampleLaunch({ env: ["GREETING=hi", "SECRET=s3cr3t"] });

describe("NodeWasiEngine", () => {
  it("runs the runner beside it with the memory cap in wasm pages", () => {
    const engine = new NodeWasiEngine({ ...defaultNodeWasiEngineOptions, nodeBinary: "/usr/bin/node" });
    const { argv, env } = engine.command(launch);
    const runner = fileURLToPath(new URL("../../../src/sandboxers/wasm/runner.js", import.meta.url));
    assert.deepEqual(argv, ["/usr/bin/node", "--wasm-max-mem-pages=32", "--no-warnings", "--max-old-space-size=32", runner]);
    assert.equal(env.length, 1);
    assert.ok(env[0]!.startsWith(`${LAUNCH_ENV}=`));
    assert.deepEqual(decodeLaunch(env[0]!.slice(LAUNCH_ENV.length + 1)), launch);
  });

  it("keeps the container's environment off the command line", () => {
    const { argv } = new NodeWasiEngine().command(launch);
    assert.ok(!argv.join(" ").includes("s3cr3t"));
  });

  it("omits the page cap without a memory limit", () => {
    const { argv } = new NodeWasiEngine({ ...defaultNodeWasiEngineOptions, maxOldSpaceMiB: 16 }).command({ ...launch, memoryLimitBytes: 0 });
    assert.deepEqual(argv.slice(1, -1), ["--no-warnings", "--max-old-space-size=16"]);
  });

  it("rounds limits down to whole pages, at least one", () => {
    assert.equal(wasmPagesForLimit(0), 0);
    assert.equal(wasmPagesForLimit(1), 1);
    assert.equal(wasmPagesForLimit(65_536 * 3 - 1), 2);
    assert.equal(wasmPagesForLimit(256 * 1024 * 1024), 4096);
  });

  it("rejects a malformed launch, naming the field", () => {
    assert.throws(() => new NodeWasiEngine().command({ ...launch, module: "app.wasm" }), { code: Code.InvalidArgument, message: /module must be an absolute host path/ });
    assert.throws(() => new NodeWasiEngine().command({ ...launch, args: [] }), { code: Code.InvalidArgument, message: /args/ });
    assert.throws(() => new NodeWasiEngine().command({ ...launch, preopens: { data: "/x" } }), { code: Code.InvalidArgument, message: /preopens\["data"\]/ });
    assert.throws(() => new NodeWasiEngine().command({ ...launch, memoryLimitBytes: -1 }), { code: Code.InvalidArgument, message: /memoryLimitBytes/ });
    assert.throws(() => decodeLaunch("%%%"), { code: Code.InvalidArgument });
  });
});
