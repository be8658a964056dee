import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { isErrorCode } from "../../../src/errors/runtime-error.js";
import type { OciSpec } from "../../../src/pod/oci-spec.js";
import { moduleInRoot } from "../../../src/sandboxers/wasm/module-in-root.js";

/** A container root holding /app/main.wasm, plus a file beside the root the module must never reach. */
function rootfs(t: TestContext): { root: string; outside: string } {
  const base = realpathSync(mkdtempSync("/tmp/kmr-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, "rootfs");
  mkdirSync(join(root, "app"), { recursive: true });
  writeFileSync(join(root, "app", "main.wasm"), "\0asm");
  const outside = join(base, "secret.wasm");
  writeFileSync(outside, "\0asm");
  return { root, outside };
}

const spec = (args: string[], cwd?: string): OciSpec => ({ process: { args, ...(cwd ? { cwd } : {}) } }) as OciSpec;
const invalid = (what: RegExp) => (e: unknown) => isErrorCode(e, Code.InvalidArgument) && what.test((e as Error).message);

describe("a wasm container's module in its root", () => {
  it("resolves an absolute args[0], or one relative to the process cwd, to the file in the root", (t) => {
    const { root } = rootfs(t);
    const want = { guest: "/app/main.wasm", path: join(root, "app", "main.wasm"), exists: true };
    assert.deepEqual(moduleInRoot(spec(["/app/main.wasm", "x"]), root), want);
    assert.deepEqual(moduleInRoot(spec(["main.wasm"], "/app"), root), want);
  });

  it("follows a symlink that stays inside the root", (t) => {
    const { root } = rootfs(t);
    symlinkSync("app/main.wasm", join(root, "entry.wasm"));
    assert.deepEqual(moduleInRoot(spec(["/entry.wasm"]), root), { guest: "/entry.wasm", path: join(root, "app", "main.wasm"), exists: true });
  });

  it("says a missing module is not there, at the plain path (the caller names it)", (t) => {
    const { root } = rootfs(t);
    assert.deepEqual(moduleInRoot(spec(["/app/gone.wasm"]), root), { guest: "/app/gone.wasm", path: join(root, "app", "gone.wasm"), exists: false });
  });

  it("refuses a module that leads outside the root: a symlink out, or `..`", (t) => {
    const { root, outside } = rootfs(t);
    symlinkSync(outside, join(root, "abs.wasm"));
    symlinkSync("../secret.wasm", join(root, "rel.wasm"));
    for (const arg of ["/abs.wasm", "/rel.wasm"]) assert.throws(() => moduleInRoot(spec([arg]), root), invalid(/resolves outside the container's root/), arg);
    assert.throws(() => moduleInRoot(spec(["/../secret.wasm"]), root), invalid(/resolves outside/));
  });

  it("refuses a spec that names no module", (t) => {
    const { root } = rootfs(t);
    for (const s of [spec([]), spec([""]), {} as OciSpec]) assert.throws(() => moduleInRoot(s, root), invalid(/names no entrypoint/));
  });
});
