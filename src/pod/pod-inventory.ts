import type { Inventory } from "../sandbox/sandboxer.js";
import type { PodRuntime } from "./pod-runtime.js";

/** The sandboxes and containers a pod runtime holds in memory, as operators see them. */
export function podInventory(ctx: PodRuntime): Inventory {
  return {
    sandboxes: [...ctx.pods.values()].map((p) => ({
      id: p.id,
      namespace: p.record.namespace,
      state: p.record.state,
      pid: p.record.state === "ready" ? p.record.podPid : 0,
      createdAt: p.record.createdAt,
      exitedAt: p.record.exitedAt,
      dir: p.dir,
      netns: p.record.netnsPath,
      cgroupPath: p.record.cgroupPath ?? "",
    })),
    containers: [...ctx.containers.values()].map((c) => ({
      id: c.id,
      sandboxId: c.record.sandboxId,
      state: c.record.init.state,
      pid: c.record.init.pid,
      startedAt: c.record.init.startedAt,
      exitStatus: c.record.init.exitStatus,
      execs: Object.keys(c.record.execs).length,
      cgroup: c.record.memoryCgroup,
    })),
  };
}
