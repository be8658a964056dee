import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { mountsBelow, unmountBelow } from "../../../src/fs/mounts.js";
import { Code } from "../../../src/errors/code.js";
import { isErrorCode } from "../../../src/errors/runtime-error.js";
import { bindInto } from "../../../src/sandboxers/vmm/share-binds.js";

/** A scratch dir on a private tmpfs (every mount below it goes with it). */
function scratch(t: { after(fn: () => Promise<void>): void }): string {
  const dir = mkdtempSync("/tmp/share-binds-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "share-binds", dir]);
  execFileSync("mount", ["--make-private", dir]);
  t.after(async () => {
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

describe("host paths bound into a VM pod's share", () => {
  it("binds directories (recursively when asked) and files onto targets it makes", async (t) => {
    const dir = scratch(t);
    mkdirSync(join(dir, "src/rootfs/sub"), { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "sub", join(dir, "src/rootfs/sub")]);
    writeFileSync(join(dir, "src/rootfs/sub/inner"), "submount");
    writeFileSync(join(dir, "src/hosts"), "127.0.0.1 localhost\n");
    const share = join(dir, "share/c/x");
    await bindInto([
      { source: join(dir, "src/rootfs"), target: join(share, "rootfs"), recursive: true },
      { source: join(dir, "src/hosts"), target: join(share, "m/0"), recursive: false },
    ]);
    assert.equal(readFileSync(join(share, "rootfs/sub/inner"), "utf8"), "submount", "the submount came along");
    assert.equal(readFileSync(join(share, "m/0"), "utf8"), "127.0.0.1 localhost\n");
    assert.deepEqual(new Set(mountsBelow(share)), new Set([join(share, "rootfs"), join(share, "rootfs/sub"), join(share, "m/0")]));
  });

  it("a bind that fails undoes those made before it, and says what was being shared", async (t) => {
    const dir = scratch(t);
    mkdirSync(join(dir, "src/ok"), { recursive: true });
    // An unbindable mount cannot be the source of a bind: mount(8) fails on it, after the first bind was made.
    mkdirSync(join(dir, "src/unbindable"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "unbindable", join(dir, "src/unbindable")]);
    execFileSync("mount", ["--make-unbindable", join(dir, "src/unbindable")]);
    const share = join(dir, "share");
    await assert.rejects(
      bindInto([
        { source: join(dir, "src/ok"), target: join(share, "rootfs"), recursive: true },
        { source: join(dir, "src/unbindable"), target: join(share, "m/0"), recursive: false },
      ]),
      (err: unknown) => isErrorCode(err, Code.InvalidArgument) && /sharing .*src\/unbindable with the guest/.test((err as Error).message),
    );
    assert.deepEqual(mountsBelow(share), [], "nothing left mounted in the share");
  });
});
