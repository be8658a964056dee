import { execFile } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { unmount } from "../../fs/mounts.js";
import type { ShareBind } from "./guest-spec.js";

const run = promisify(execFile);

/** Bind-mounts host paths into the share (files onto empty files); undoes them all on failure. */
export async function bindInto(binds: ShareBind[]): Promise<void> {
  for (const b of binds) {
    const isDir = statSync(b.source).isDirectory();
    mkdirSync(isDir ? b.target : join(b.target, ".."), { recursive: true, mode: 0o711 });
    if (!isDir && !existsSync(b.target)) writeFileSync(b.target, "", { mode: 0o644 });
  }
  // One process for them all, mount(8) once per bind inside it: a fork of the daemon each (the
  // rootfs and CRI's four files make five per container) cost its event loop more than the mounts.
  const args = binds.flatMap((b) => [b.recursive ? "--rbind" : "--bind", b.source, b.target]);
  try {
    await run("/bin/sh", ["-c", 'while [ "$#" -gt 0 ]; do mount "$1" "$2" "$3" || exit; shift 3; done', "bind-into", ...args]);
  } catch (err) {
    // Those made before the one that failed: each target is a fresh path of this container's.
    for (const b of [...binds].reverse()) await unmount(b.target).catch(() => {});
    const e = err as { stderr?: string; message: string };
    throw new RuntimeError(Code.InvalidArgument, `sharing ${binds.map((b) => b.source).join(", ")} with the guest: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}
