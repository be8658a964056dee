import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { commandArgv, locateOciRuntime } from "../../src/oci-runtime/oci-runtime-command.js";
import { privateDepsDir } from "../../src/fs/private-deps.js";

const root = mkdtempSync(join(tmpdir(), "oci-runtime-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** An executable file at `path`. */
function exe(path: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, 0o755);
  return path;
}

const bin = join(root, "bin");
exe(join(bin, "runc"));
exe(join(bin, "crun"));
const emptyPath = join(root, "nothing-here");
const noPrivate = join(root, "no-private-crun");

describe("locating the OCI runtime", () => {
  it("runc is runc_binary, found on PATH, with no launcher", () => {
    assert.deepEqual(locateOciRuntime("runc", "runc", { path: bin, crunDir: noPrivate }), { name: "runc", binary: join(bin, "runc"), launcher: [] });
  });

  it("crun is the private copy install-deps.sh unpacks, run through its own loader", () => {
    const dir = join(root, "private");
    exe(join(dir, "usr/bin/crun"));
    exe(join(dir, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
    const c = locateOciRuntime("crun", "runc", { path: emptyPath, crunDir: dir });
    assert.equal(c.name, "crun");
    assert.deepEqual(commandArgv(c), [join(dir, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "--library-path", join(dir, "usr/lib/x86_64-linux-gnu"), join(dir, "usr/bin/crun")]);
  });

  it("crun is crun on PATH when there is no private copy (a stock Debian node with the crun package)", () => {
    assert.deepEqual(locateOciRuntime("crun", "runc", { path: bin, crunDir: noPrivate }), { name: "crun", binary: join(bin, "crun"), launcher: [] });
  });

  it("an absolute path is taken as it is, named by its file name", () => {
    const p = exe(join(root, "opt/my-runtime"));
    assert.deepEqual(locateOciRuntime(p, "runc", { path: emptyPath }), { name: "my-runtime", binary: p, launcher: [] });
  });

  it("a missing runtime is FailedPrecondition naming what was looked for; a malformed one InvalidArgument", () => {
    assert.throws(() => locateOciRuntime("crun", "runc", { path: emptyPath, crunDir: noPrivate }), {
      code: Code.FailedPrecondition,
      message: `config sandboxers.runc.runtime: crun not found (neither ${noPrivate}/usr/bin/crun from packaging/install-deps.sh nor crun on PATH)`,
    });
    assert.throws(() => locateOciRuntime("/nonexistent/crun", "runc", { path: bin }), { code: Code.FailedPrecondition, message: /\/nonexistent\/crun not found or not executable/ });
    assert.throws(() => locateOciRuntime("runc", "/nonexistent/runc", { path: bin }), { code: Code.FailedPrecondition, message: /runc binary "\/nonexistent\/runc" not found or not executable/ });
    for (const bad of ["kata", "bin/crun", "./crun"]) {
      assert.throws(() => locateOciRuntime(bad, "runc", { path: bin }), { code: Code.InvalidArgument, message: /expected "runc", "crun" or an absolute path/ }, bad);
    }
  });

  it("finds the private crun under KUASAR_DEPS_DIR when it is set", () => {
    assert.equal(privateDepsDir("crun", { KUASAR_DEPS_DIR: "/opt/deps" }), "/opt/deps/crun");
    assert.match(privateDepsDir("crun", {}), /\/\.deps\/crun$/);
  });
});
