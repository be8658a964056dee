import { fstatSync, readFileSync, readlinkSync } from "node:fs";

/** Where kuasard's log lines (NDJSON on stderr) end up, so kuasar-ctl logs can read them back. */
export type LogTarget =
  | { kind: "journald"; unit: string | undefined; pid: number }
  | { kind: "file"; path: string }
  | { kind: "other"; description: string };

/**
 * Finds where stderr goes: journald (systemd sets JOURNAL_STREAM to the device and
 * inode of the stream it gave us), a file, or something kuasar-ctl cannot read back
 * (a pipe to a supervisor, a terminal).
 */
export function currentLogTarget(): LogTarget {
  let link = "";
  try {
    link = readlinkSync("/proc/self/fd/2");
  } catch {
    return { kind: "other", description: "no stderr" };
  }
  const journal = process.env["JOURNAL_STREAM"];
  if (journal) {
    const st = fstatSync(2);
    if (journal === `${st.dev}:${st.ino}`) return { kind: "journald", unit: systemdUnit(), pid: process.pid };
  }
  if (link.startsWith("/") && !link.startsWith("/dev/")) return { kind: "file", path: link.replace(/ \(deleted\)$/, "") };
  return { kind: "other", description: link };
}

/** The systemd unit this process runs in, from its cgroup path (`…/kuasard.service`). */
function systemdUnit(): string | undefined {
  try {
    const m = /\/([^/]+\.service)(?:\/|$)/m.exec(readFileSync("/proc/self/cgroup", "utf8"));
    return m?.[1];
  } catch {
    return undefined;
  }
}
