import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { unescapeMountPath } from "./mountinfo.js";

const run = promisify(execFile);

/** Unmounts `target` (lazily if busy); a target that is not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  try {
    await run("umount", [target]);
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? "");
    if (/not mounted|no mount point|not found|No such file/i.test(text)) return;
    await run("umount", ["-l", target]);
  }
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo (octal escapes decoded). */
export function mountsBelow(dir: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  const base = dir.replace(/\/+$/, "");
  const points = mountinfo
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === base || p.startsWith(`${base}/`));
  return [...new Set(points)].sort((a, b) => b.split("/").length - a.split("/").length);
}

/** Unmounts everything mounted at or below `dir` (before removing it: a recursive rm must never walk into a mount). */
export async function unmountBelow(dir: string): Promise<void> {
  for (let round = 0; round < 8; round++) {
    const points = mountsBelow(dir);
    if (points.length === 0) return;
    for (const p of points) await unmount(p).catch(() => {});
  }
  const left = mountsBelow(dir);
  if (left.length > 0) throw new RuntimeError(Code.Internal, `cannot unmount ${left.join(", ")}`);
}
