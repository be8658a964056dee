import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { censusDiff, takeCensus, type Census, type CensusScope } from "./leak-census.js";
import type { CriClient } from "./cri.js";

/**
 * Looks at a sandboxer's `--dir` as a test sees it: the pods and records in it,
 * and what a leak census says about this test's pods (cgroups named after them).
 */

/** Entries of `<dir>/<sub>` ("" when it is missing). */
export function entriesOf(dir: string, sub: "pods" | "sandboxes" | "containers"): string[] {
  try {
    return readdirSync(join(dir, sub));
  } catch {
    return [];
  }
}

/** The holder pid a pod dir records (0 when none). */
export function holderPidIn(podDir: string): number {
  try {
    return Number(readFileSync(join(podDir, "holder.pid"), "utf8").trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** A container's host pid from CRI's verbose status. */
export async function containerPid(cri: CriClient, containerId: string): Promise<number> {
  const info = (await cri.runtime.containerStatus({ containerId, verbose: true })).info;
  return (JSON.parse(info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
}

/**
 * What grew between two censuses. Cgroups are global on this machine (other
 * test runs make theirs), so only those naming one of `ids` count.
 */
export function leaksOf(before: Census, after: Census, ids: readonly string[]): ReturnType<typeof censusDiff> {
  const diff = censusDiff(before, after);
  // runc makes its state root (`<dir>/runc`) for the first container and keeps it: not a pod's.
  const entries = (diff.entries ?? []).filter((e) => !e.endsWith("/runc"));
  if (entries.length > 0) diff.entries = entries;
  else delete diff.entries;
  const cgroups = (diff.cgroups ?? []).filter((c) => ids.some((id) => c.includes(id)));
  if (cgroups.length > 0) diff.cgroups = cgroups;
  else delete diff.cgroups;
  return diff;
}

/**
 * {@link leaksOf} once processes that end on their own are gone: containerd 1.7 runs
 * `shim delete` (a short Node program) after a connection closed, and killed pods'
 * processes are reaped asynchronously. Polls up to 5 s; what is still there is a leak.
 */
export async function settledLeaksOf(scope: CensusScope, before: Census, ids: readonly string[]): Promise<ReturnType<typeof censusDiff>> {
  let diff = leaksOf(before, takeCensus(scope), ids);
  for (let i = 0; i < 50 && Object.keys(diff).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    diff = leaksOf(before, takeCensus(scope), ids);
  }
  return diff;
}

/** Polls `check` until it returns true or `ms` passed; returns its last answer. */
export async function eventually(check: () => boolean, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
