import { STREAM } from "../../holder/holder-protocol.js";
import type { PodAgent } from "../../holder/pod-agent.js";
import { GUEST_OOM_WATCH, GUEST_RUNC, GUEST_RUNC_ROOT } from "./guest-paths.js";
import type { GuestOciRuntime } from "./guest-oci-runtime.js";

/**
 * OOM kills inside a VM pod's guest, as they happen: per running container one
 * `runc events` in the guest, started by the agent with its stdout streamed to
 * the host, whose `{"type":"oom"}` records become /tasks/oom. runc is told of
 * a kill by the guest kernel (inotify on the container's cgroup v2
 * `memory.events`), so an idle watcher costs no guest CPU: under TCG every
 * guest instruction is emulated, and a poll from the host (a process spawned
 * in the guest per read) would cost CPU all the time. Its price is guest
 * memory, one runc process per container (a few MiB resident). Its periodic
 * stats records are asked for once a day only and ignored. Guests with crun (which has no
 * `events`) run our `kuasar-oom-watch` instead (native/oom-watch): the same inotify wait on
 * the init's cgroup, the same `{"type":"oom"}` records, a few KiB instead of a Go process.
 */

/** Agent spawn id of a container's watcher. */
export const oomWatcherSpawnId = (containerId: string): string => `oom:${containerId}`;

/** The container a watcher's spawn id belongs to, or undefined for any other spawn. */
export function containerOfOomWatcher(spawnId: string): string | undefined {
  return spawnId.startsWith("oom:") ? spawnId.slice("oom:".length) : undefined;
}

/** Starts the watcher of a started container (its init: `initPid` in the guest); resolves with its guest pid. */
export function startOomWatcher(agent: PodAgent, containerId: string, runtime: GuestOciRuntime, initPid: number): Promise<number> {
  const argv = runtime === "crun" ? [GUEST_OOM_WATCH, String(initPid)] : [GUEST_RUNC, "--root", GUEST_RUNC_ROOT, "events", "--interval", "24h", containerId];
  return agent.spawn({
    id: oomWatcherSpawnId(containerId),
    cwd: "/",
    stdin: "",
    stdout: STREAM,
    stderr: "",
    argv,
    env: ["PATH=/sbin:/bin"],
  });
}

/**
 * Splits a watcher's output into records and counts the OOM ones; partial
 * lines wait for the rest. Anything that is not JSON is ignored (runc's own
 * complaints go to stderr, which is not streamed).
 */
export class OomRecordCounter {
  private rest = "";

  /** OOM records completed by `data`. */
  push(data: Buffer): number {
    const lines = (this.rest + data.toString("utf8")).split("\n");
    this.rest = lines.pop() ?? "";
    if (this.rest.length > 1 << 16) this.rest = ""; // a stats record never gets this long: not runc's output
    let ooms = 0;
    for (const line of lines) {
      try {
        if ((JSON.parse(line) as { type?: unknown }).type === "oom") ooms++;
      } catch {
        /* not a record */
      }
    }
    return ooms;
  }
}
