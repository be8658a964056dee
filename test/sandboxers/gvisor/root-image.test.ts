import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ensureRootImage } from "../../../src/sandboxers/gvisor/root-image.js";

/** The file names in an EROFS image's root, as `dump.erofs` (erofs-utils) lists them. */
function rootEntries(image: string): string[] {
  const out = execFileSync("dump.erofs", ["--ls", "--path=/", image], { encoding: "utf8" });
  // Entry lines are "NID TYPE FILENAME", after the inode's own description.
  const names = out.split("\n").map((l) => /^\s*\d+\s+\d+\s+(\S+)$/.exec(l)?.[1]);
  return names.filter((n): n is string => n !== undefined && n !== "." && n !== "..").sort();
}

describe("gvisor root image (real mkfs.erofs)", () => {
  it("holds the pause program and the mount points, is built once per program, and replaces an older one", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "root-image-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pause = join(dir, "pause-program");
    writeFileSync(pause, "#!/bin/true\n", { mode: 0o700 });
    const images = join(dir, "images");
    const first = await ensureRootImage({ pauseBinary: pause, dir: images, mkfs: "mkfs.erofs", timeoutMs: 20_000 });
    assert.equal(first.reason, "");
    assert.match(first.path, /pause-[0-9a-f]{16}\.erofs$/);
    assert.deepEqual(rootEntries(first.path), ["dev", "pause", "proc", "sys", "tmp"]);
    const built = statSync(first.path).mtimeMs;
    // The same program: the same file, not built again.
    const again = await ensureRootImage({ pauseBinary: pause, dir: images, mkfs: "mkfs.erofs", timeoutMs: 20_000 });
    assert.equal(again.path, first.path);
    assert.equal(statSync(again.path).mtimeMs, built);
    // Another program (a daemon upgrade): a new image, the old one removed, no build leftovers.
    writeFileSync(pause, "#!/bin/true\n# v2\n");
    const next = await ensureRootImage({ pauseBinary: pause, dir: images, mkfs: "mkfs.erofs", timeoutMs: 20_000 });
    assert.notEqual(next.path, first.path);
    assert.deepEqual(readdirSync(images), [next.path.split("/").at(-1)]);
  });

  it("says what is missing when mkfs.erofs is not installed, and builds nothing", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "root-image-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await ensureRootImage({ pauseBinary: "/bin/true", dir: join(dir, "images"), mkfs: "/nonexistent/mkfs.erofs", timeoutMs: 20_000 });
    assert.deepEqual(r, { path: "", reason: "/nonexistent/mkfs.erofs not found (Debian package erofs-utils)" });
    assert.deepEqual(readdirSync(dir), []);
  });

  it("fails with mkfs.erofs's error when the build fails, leaving no partial image", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "root-image-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const fake = join(dir, "mkfs.erofs");
    writeFileSync(fake, "#!/bin/sh\necho 'write error: No space left on device' >&2\n: > \"$4\"\nexit 1\n", { mode: 0o755 });
    await assert.rejects(ensureRootImage({ pauseBinary: "/bin/true", dir: join(dir, "images"), mkfs: fake, timeoutMs: 20_000 }), /No space left on device/);
    assert.deepEqual(readdirSync(join(dir, "images")), []);
  });
});
