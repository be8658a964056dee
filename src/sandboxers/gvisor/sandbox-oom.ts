import { OomWatch } from "../../cgroup/oom-watch.js";
import type { Logger } from "../../log/logger.js";
import { type Clock, realClock } from "../../time/clock.js";

/** How often each gVisor pod's cgroup is polled for OOM kills, in ms. */
export const SANDBOX_OOM_POLL_MS = 1000;
/** How long after a kill was seen a container's failed end may still be matched to it, in ms. */
export const SANDBOX_OOM_MATCH_MS = 5000;

/**
 * OOM kills in gVisor pods, given to the container they ended. The host sees
 * only the pod cgroup's `oom_kill` counter (the sandbox runs every container of
 * the pod): the kernel kills one host process of the sandbox, a systrap stub
 * that held one application process's memory, and gVisor's kernel ends that
 * process. Which container the process belonged to is not visible from the
 * host, so a kill goes to the first container of the pod whose init then ends
 * with a failure, within {@link SANDBOX_OOM_MATCH_MS} of the kill being seen;
 * a kill no such end matches (a container's child process, the container runs
 * on) is logged, not published.
 */
export class SandboxOomTracker {
  private readonly watch: OomWatch;
  /** Kills seen per pod and not yet matched, with when they were last seen. */
  private readonly pending = new Map<string, { kills: number; atMs: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
    pollMs = SANDBOX_OOM_POLL_MS,
  ) {
    this.watch = new OomWatch(pollMs, (podId, kills) => this.seen(podId, kills), clock);
  }

  /** Watches pod `podId`'s memory cgroup `dir` (the sandbox's); kills before now are not counted. */
  watchPod(podId: string, dir: string): void {
    this.pending.delete(podId);
    this.watch.watch(podId, dir);
  }

  unwatchPod(podId: string): void {
    this.watch.unwatch(podId);
    this.pending.delete(podId);
  }

  /**
   * A container of pod `podId` ended with `status`: the OOM kills its end is
   * given (0 for none). Only a failed end takes them, and only while recent.
   */
  claim(podId: string, containerId: string, status: number): number {
    this.watch.poll(podId); // a kill just before this exit, not polled yet
    const p = this.pending.get(podId);
    if (!p || status === 0) return 0;
    this.pending.delete(podId);
    if (this.clock.now() - p.atMs > SANDBOX_OOM_MATCH_MS) {
      this.log.warn({ sandbox_id: podId, container_id: containerId, kills: p.kills }, "OOM kills in the gVisor sandbox's cgroup matched no container's end; not reported");
      return 0;
    }
    return p.kills;
  }

  /**
   * Pod `podId`'s sandbox ended: the recent OOM kills it is given (0 for none), and
   * the pod is no longer watched. When the kernel picks the sandbox itself (gVisor's
   * kernel, the largest process of the pod cgroup), every container in it went with it.
   */
  sandboxEnded(podId: string): number {
    this.watch.poll(podId);
    const p = this.pending.get(podId);
    this.unwatchPod(podId);
    return p && this.clock.now() - p.atMs <= SANDBOX_OOM_MATCH_MS ? p.kills : 0;
  }

  close(): void {
    this.watch.close();
    this.pending.clear();
  }

  private seen(podId: string, kills: number): void {
    const p = this.pending.get(podId);
    this.pending.set(podId, { kills: (p?.kills ?? 0) + kills, atMs: this.clock.now() });
    this.log.info({ sandbox_id: podId, kills }, "the kernel OOM-killed a process of the gVisor sandbox");
  }
}
