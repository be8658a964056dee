import { readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * The one-line STATUS= a service manager shows for the daemon (`systemctl status`):
 * pods per kind, counted as the pod dirs under each sandboxer's `--dir` (one small
 * directory read per kind, no call into the sandboxers).
 */
export function serviceStatusLine(dirs: Readonly<Record<string, string>>): string {
  const counts = Object.entries(dirs).map(([kind, dir]) => [kind, podDirCount(join(dir, "pods"))] as const);
  const total = counts.reduce((n, [, c]) => n + c, 0);
  return `serving ${total} pod${total === 1 ? "" : "s"} (${counts.map(([k, c]) => `${k} ${c}`).join(", ")})`;
}

function podDirCount(dir: string): number {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
  } catch {
    return 0;
  }
}
