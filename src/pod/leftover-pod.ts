import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isValidId } from "../sandbox/id.js";
import { isAlive } from "./pod.js";
import type { SandboxRecord } from "./records.js";
import { mountsBelow } from "./rootfs.js";

/**
 * What is left of a pod that no good record describes (its record was damaged,
 * never written, or written by a Start the daemon died in): re-derived from the
 * pod dir alone, so the ordinary Stop and Shutdown can take it all down.
 */

/** File the holder writes once it listens: `<holder pid> <pod init pid>`. */
export const HOLDER_PID_FILE = "holder.pid";

/** The holder pids recorded in a pod dir; zeros when there is no (readable) pid file. */
export function recordedHolderPids(podDir: string): { holderPid: number; podPid: number } {
  let text = "";
  try {
    text = readFileSync(join(podDir, HOLDER_PID_FILE), "utf8");
  } catch {
    return { holderPid: 0, podPid: 0 };
  }
  const [a = "0", b = "0"] = text.trim().split(/\s+/);
  const holderPid = Number.parseInt(a, 10) || 0;
  const podInit = Number.parseInt(b, 10) || 0;
  return { holderPid, podPid: podInit > 0 ? podInit : holderPid };
}

/**
 * True when `pid` is alive and is the holder of `podDir` (its command line says
 * `--dir <podDir>`), so a pid reused by another process is never signalled.
 */
export function isHolderOf(pid: number, podDir: string): boolean {
  if (!isAlive(pid)) return false;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return false;
  }
  const at = argv.indexOf("--dir");
  return at >= 0 && argv[at + 1] === podDir;
}

/**
 * A record for pod `id` re-derived from its dir: "ready" while its holder lives
 * (so Stop shuts the holder down, which kills what it launched), else "stopped".
 * It carries no pod config: it exists only to be taken down.
 */
export function rederivedRecord(id: string, podDir: string, namespace: string): SandboxRecord {
  const { holderPid, podPid } = recordedHolderPids(podDir);
  const live = holderPid > 0 && isHolderOf(holderPid, podDir);
  return {
    id,
    namespace,
    netnsPath: "",
    pod: undefined,
    annotations: {},
    labels: {},
    state: live ? "ready" : "stopped",
    createdAt: new Date().toISOString(),
    exitedAt: live ? undefined : new Date().toISOString(),
    exitStatus: 0,
    holderPid: live ? holderPid : 0,
    podPid: live ? podPid : 0,
    shmMounted: mountsBelow(podDir).length > 0,
    standalone: true,
  };
}

/**
 * A record interrupted by a daemon crash in Start, completed from its dir: the
 * holder may have started before its pid reached the record.
 */
export function interruptedStartRecord(record: SandboxRecord, podDir: string): SandboxRecord {
  const found = rederivedRecord(record.id, podDir, record.namespace);
  return { ...record, state: found.state, holderPid: found.holderPid, podPid: found.podPid, shmMounted: found.shmMounted, exitedAt: found.exitedAt };
}

/** Ids of the pod dirs under `podsDir` (names that are not ids are not ours to judge). */
export function podDirIds(podsDir: string): string[] {
  try {
    return readdirSync(podsDir).filter(isValidId);
  } catch {
    return [];
  }
}
