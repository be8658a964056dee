import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { unmountBelow } from "../../../src/fs/mounts.js";
import { ComponentCache, COMPONENT_JS, MANIFEST, type ComponentTranspiler, type TranspiledComponent } from "../../../src/sandboxers/wasm/component-cache.js";

const isolated = process.env["KUASAR_E2E_ISOLATED"] === "1" && process.getuid?.() === 0;

/** A transpiler that counts its calls and returns `files` (default: a small JS and a core module). */
function fakeTranspiler(files: Record<string, Uint8Array> = { [COMPONENT_JS]: Buffer.from("export function instantiate() {}\n"), "component.core.wasm": Buffer.alloc(64, 1) }) {
  const calls: Uint8Array[] = [];
  const transpiler: ComponentTranspiler & { calls: Uint8Array[] } = {
    calls,
    async transpile(component): Promise<TranspiledComponent> {
      calls.push(component);
      return { files, imports: ["wasi:cli/stdout"], exports: ["run"] };
    },
  };
  return transpiler;
}

function workdir(t: TestContext): { dir: string; component: string } {
  const dir = mkdtempSync(join(tmpdir(), "component-cache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const component = join(dir, "app.wasm");
  writeFileSync(component, Buffer.from("pretend component bytes"));
  return { dir, component };
}

describe("ComponentCache", () => {
  it("transpiles once per content: a second container (and a concurrent one) reuse the entry", async (t) => {
    const { dir, component } = workdir(t);
    const tr = fakeTranspiler();
    const cache = new ComponentCache(join(dir, "cache"), tr);
    const [a, b] = await Promise.all([cache.transpiled(component), cache.transpiled(component)]);
    assert.equal(a, b);
    assert.equal(tr.calls.length, 1);
    assert.equal(await cache.transpiled(component), a);
    assert.equal(tr.calls.length, 1, "a hit does not transpile");
    assert.deepEqual(readdirSync(a).sort(), [COMPONENT_JS, "component.core.wasm", MANIFEST].sort());
    const manifest = JSON.parse(readFileSync(join(a, MANIFEST), "utf8"));
    assert.deepEqual(manifest.imports, ["wasi:cli/stdout"]);
    assert.deepEqual(readdirSync(join(dir, "cache")), [manifest.digest], "no temp dir left");
    // Another cache object on the same dir (a restarted daemon) hits too.
    const tr2 = fakeTranspiler();
    assert.equal(await new ComponentCache(join(dir, "cache"), tr2).transpiled(component), a);
    assert.equal(tr2.calls.length, 0);
  });

  it("makes a damaged entry again: a file changed, one missing, no manifest", async (t) => {
    const { dir, component } = workdir(t);
    const tr = fakeTranspiler();
    const cache = new ComponentCache(join(dir, "cache"), tr);
    const entry = await cache.transpiled(component);
    const damage: (() => void)[] = [
      () => {
        chmodSync(join(entry, COMPONENT_JS), 0o600);
        writeFileSync(join(entry, COMPONENT_JS), "garbage");
      },
      () => rmSync(join(entry, "component.core.wasm")),
      () => rmSync(join(entry, MANIFEST)),
    ];
    for (const [i, hurt] of damage.entries()) {
      hurt();
      assert.equal(await cache.transpiled(component), entry);
      assert.equal(tr.calls.length, i + 2);
      assert.equal(readFileSync(join(entry, COMPONENT_JS), "utf8"), "export function instantiate() {}\n");
    }
  });

  it("a failed transpile is a clear error naming the component, and leaves nothing", async (t) => {
    const { dir, component } = workdir(t);
    const cache = new ComponentCache(join(dir, "cache"), {
      transpile: () => Promise.reject(new Error("not a valid component")),
    });
    await assert.rejects(cache.transpiled(component), { code: Code.InvalidArgument, message: /wasm component sha256:[0-9a-f]{64}: cannot transpile it: not a valid component/ });
    assert.deepEqual(readdirSync(join(dir, "cache")), []);
    await assert.rejects(cache.transpiled(join(dir, "missing.wasm")), { code: Code.NotFound, message: /missing\.wasm: cannot read it/ });
  });

  it("refuses a transpiler's file outside the entry or no component.js", async (t) => {
    const { dir, component } = workdir(t);
    const escape = new ComponentCache(join(dir, "c1"), fakeTranspiler({ [COMPONENT_JS]: Buffer.from(""), "../x.js": Buffer.from("") }));
    await assert.rejects(escape.transpiled(component), { code: Code.Internal, message: /"\.\.\/x\.js"/ });
    const noJs = new ComponentCache(join(dir, "c2"), fakeTranspiler({ "component.core.wasm": Buffer.from("") }));
    await assert.rejects(noJs.transpiled(component), { code: Code.Internal, message: /no component\.js/ });
    assert.equal(existsSync(join(dir, "x.js")), false);
  });

  it("removes the temp dirs an earlier daemon left mid-write, and keeps whole entries", async (t) => {
    const { dir, component } = workdir(t);
    const cacheDir = join(dir, "cache");
    const entry = await new ComponentCache(cacheDir, fakeTranspiler()).transpiled(component);
    mkdirSync(join(cacheDir, `${"a".repeat(64)}.tmp-999999-0`));
    writeFileSync(join(cacheDir, `${"a".repeat(64)}.tmp-999999-0`, COMPONENT_JS), "half");
    const tr = fakeTranspiler();
    assert.equal(await new ComponentCache(cacheDir, tr).transpiled(component), entry);
    assert.deepEqual(readdirSync(cacheDir), [readdirSync(cacheDir).find((n) => !n.includes(".tmp-"))!]);
    assert.equal(tr.calls.length, 0);
  });

  it("on a full disk fails with ResourceExhausted saying so, leaves no half entry, and works once there is room", { skip: isolated ? false : "needs root in the test namespaces (node dist/test/run.js sandboxers/wasm/) to mount a tmpfs" }, async (t) => {
    const { dir, component } = workdir(t);
    const disk = mkdtempSync(join(tmpdir(), "component-disk-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tiny", disk]);
    t.after(async () => {
      await unmountBelow(disk);
      rmSync(disk, { recursive: true, force: true });
    });
    const big = fakeTranspiler({ [COMPONENT_JS]: Buffer.alloc(48 << 10, 0x20), "component.core.wasm": Buffer.alloc(48 << 10, 1) });
    const cache = new ComponentCache(join(disk, "cache"), big);
    await assert.rejects(cache.transpiled(component), { code: Code.ResourceExhausted, message: /cannot write transpiled component sha256:[0-9a-f]{64} in .*: no space left on device/ });
    assert.deepEqual(readdirSync(join(disk, "cache")), [], "nothing half-written is left to reuse");
    const small = new ComponentCache(join(disk, "cache"), fakeTranspiler());
    const entry = await small.transpiled(component);
    assert.equal(readFileSync(join(entry, COMPONENT_JS), "utf8"), "export function instantiate() {}\n");
  });
});
