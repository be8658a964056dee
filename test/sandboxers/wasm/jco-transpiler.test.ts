import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { defaultJcoTranspilerOptions, JcoTranspiler } from "../../../src/sandboxers/wasm/jco-transpiler.js";
import { echoReadComponent } from "../../../testing/wasm-components.js";

describe("JcoTranspiler (jco in a child process)", () => {
  it("transpiles a component to its JS and core modules, with its imports and the run export", async () => {
    const out = await new JcoTranspiler().transpile(await echoReadComponent());
    assert.ok(out.files["component.js"] && out.files["component.js"].length > 0);
    assert.ok(Object.keys(out.files).some((f) => f.endsWith(".wasm")));
    assert.ok(Object.keys(out.files).every((f) => !f.includes("/") && !f.endsWith(".d.ts")), "only top-level JS and wasm");
    assert.ok(out.imports.includes("wasi:cli/exit"));
    assert.ok(out.exports.some((e) => e.startsWith("wasi:cli/run@")));
  });

  it("bytes that are no component are InvalidArgument with jco's reason", async () => {
    await assert.rejects(new JcoTranspiler().transpile(Buffer.from("not wasm at all")), { code: Code.InvalidArgument, message: /^jco: / });
  });

  it("a transpile over its deadline is killed: DeadlineExceeded", async () => {
    const slow = new JcoTranspiler({ ...defaultJcoTranspilerOptions, timeoutMs: 50 });
    await assert.rejects(slow.transpile(await echoReadComponent()), { code: Code.DeadlineExceeded, message: /took over 50 ms/ });
  });

  it("a transpiler killed by a signal (kill -9) is Unavailable, not the component's fault; the next transpile works", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "jco-kill-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // Stands in for node: reads the component as the transpiler does, then is SIGKILLed.
    const program = join(dir, "killed-transpiler");
    writeFileSync(program, "#!/bin/sh\ncat >/dev/null; kill -9 $$\n", { mode: 0o755 });
    const killed = new JcoTranspiler({ ...defaultJcoTranspilerOptions, nodeBinary: program });
    await assert.rejects(killed.transpile(await echoReadComponent()), { code: Code.Unavailable, message: /killed \(SIGKILL\)/ });
    assert.ok((await new JcoTranspiler().transpile(await echoReadComponent())).files["component.js"]);
  });
});
