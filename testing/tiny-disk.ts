import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { unmountBelow } from "../src/fs/mounts.js";

/**
 * Full-disk fixtures: a small tmpfs of the test's own, and a filler that leaves it with no
 * room. Mounting needs root in the test's private namespaces (`node dist/test/run.js ...`).
 */

/** Why a full-disk test cannot run here, or false when it can. */
export const tinyDiskSkip: string | false =
  process.env["KUASAR_E2E_ISOLATED"] === "1" && process.getuid?.() === 0 ? false : "needs root in the test namespaces (node dist/test/run.js <dir>/) to mount a tmpfs";

/** A tmpfs of `size` (64k by default) of our own, unmounted and removed after the test. */
export function tinyDisk(t: TestContext, size = "64k"): string {
  const dir = mkdtempSync(join(tmpdir(), "full-disk-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tiny", dir]);
  t.after(async () => {
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the file system of `dir` until it refuses one more byte. */
export function fillDisk(dir: string): void {
  const chunk = Buffer.alloc(4096, 0x78);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(dir, `filler-${i}`), chunk);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      return;
    }
  }
}
