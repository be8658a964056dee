import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultPauseBinary } from "../../../src/sandboxers/gvisor/gvisor-sandboxer.js";
import { rootImageOf } from "../../../src/sandboxers/gvisor/root-image.js";

describe("gvisor root image", () => {
  it("is built beside the pause program and holds it and the mount points, nothing else", (t) => {
    const image = rootImageOf(defaultPauseBinary);
    assert.equal(image.path, `${defaultPauseBinary}.erofs`, `${image.reason}: install-deps.sh installs erofs-utils, npm run build makes the image`);
    const out = mkdtempSync(join(tmpdir(), "root-image-"));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    // fsck.erofs (erofs-utils) checks every block of the image and extracts its tree.
    execFileSync("fsck.erofs", [`--extract=${join(out, "tree")}`, image.path], { stdio: "pipe" });
    assert.deepEqual(execFileSync("ls", ["-A", join(out, "tree")], { encoding: "utf8" }).split("\n").filter(Boolean), ["dev", "pause", "proc", "sys", "tmp"]);
    assert.ok(readFileSync(join(out, "tree", "pause")).equals(readFileSync(defaultPauseBinary)), "/pause is the pause program, byte for byte");
    assert.equal(statSync(join(out, "tree", "pause")).mode & 0o777, 0o755);
  });

  it("is not used when missing or older than the pause program, and says why", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "root-image-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pause = join(dir, "kuasar-pause");
    copyFileSync(defaultPauseBinary, pause);
    assert.deepEqual(rootImageOf(pause), { path: "", reason: `no ${pause}.erofs (make -C native builds it where mkfs.erofs, Debian package erofs-utils, is installed)` });
    copyFileSync(`${defaultPauseBinary}.erofs`, `${pause}.erofs`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${pause}.erofs`, old, old);
    assert.match(rootImageOf(pause).reason, /is older than .*kuasar-pause: make -C native builds it again/);
    utimesSync(`${pause}.erofs`, new Date(), new Date());
    assert.deepEqual(rootImageOf(pause), { path: `${pause}.erofs`, reason: "" });
  });
});
