import { rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { Container } from "../../../src/pod/container.js";
import type { OciProcess } from "../../../src/pod/oci-spec.js";
import { PodTasks, requireHolder, type InitLaunch } from "../../../src/pod/pod-tasks.js";
import type { CgroupStats, CreateTaskSpec } from "../../../src/task/task-backend.js";

/** Stats the fake kind reports for any running container. */
export const FAKE_STATS: CgroupStats = { version: 2, cpuUsageNs: 1n, cpuUserNs: 1n, cpuSystemNs: 0n, memoryUsageBytes: 4096n, memoryLimitBytes: 0n, pidsCurrent: 1n, pidsLimit: 0n };

/**
 * The fake kind's containers, step 2 of docs/guides/adding-a-sandboxer-kind.md:
 * a container's init is one process its pod's supervisor spawns (the image's
 * args), created at Create and "released" at Start; signals go through the
 * supervisor. Works over a {@link FakeSupervisor} and over a real holder alike.
 */
export class FakeTasks extends PodTasks {
  /** Containers whose Start (the engine's release) fails, once. */
  readonly failStart = new Set<string>();
  /** Engine calls, in order (`launch c1`, `undo c1`, `remove c1`...). */
  readonly calls: string[] = [];

  protected checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, "fake: no checkpoints");
  }

  protected async launchInit(l: InitLaunch): Promise<{ pid: number; memoryCgroup: string; fields: Record<string, unknown> }> {
    this.calls.push(`launch ${l.id}`);
    const args = l.oci.process?.args ?? [];
    if (args[0] === "fail-launch") throw new RuntimeError(Code.InvalidArgument, "fake: launch refused");
    const pid = await l.holder.spawn({ id: l.spawnId, argv: args, env: [] });
    return { pid, memoryCgroup: "", fields: {} };
  }

  protected async undoLaunch(id: string): Promise<void> {
    this.calls.push(`undo ${id}`);
  }

  async start(containerId: string, execId: string): Promise<{ pid: number }> {
    const c = this.container(containerId);
    if (!execId) {
      return this.startInit(c, async () => {
        if (this.failStart.delete(containerId)) throw new RuntimeError(Code.Internal, "fake: start failed");
      });
    }
    const p = this.processOf(c, execId);
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is not running`);
    const startedAt = new Date();
    const pid = await requireHolder(c.pod).spawn({ id: p.spawnId, argv: (p.process as OciProcess).args ?? [], env: [] });
    return this.execStarted(c, execId, pid, startedAt);
  }

  protected async signalProcess(containerId: string, execId: string, signal: number): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    await requireHolder(c.pod).kill(p.pid, signal);
  }

  async pids(containerId: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.container(containerId);
    return this.pidsFrom(c, async () => [c.record.init.pid, ...Object.values(c.record.execs).filter((p) => p.state === "running").map((p) => p.pid)]);
  }

  protected async freeze(c: Container): Promise<void> {
    this.calls.push(`freeze ${c.id}`);
  }

  protected async thaw(c: Container): Promise<void> {
    this.calls.push(`thaw ${c.id}`);
  }

  protected removeExecFiles(): void {}

  async update(containerId: string): Promise<void> {
    if (this.container(containerId).record.init.state === "stopped") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is stopped`);
  }

  async stats(containerId: string): Promise<CgroupStats> {
    if (this.container(containerId).record.init.state === "stopped") throw new RuntimeError(Code.NotFound, `container ${containerId} is not running`);
    return { ...FAKE_STATS };
  }

  async remove(c: Container): Promise<void> {
    this.calls.push(`remove ${c.id}`);
    rmSync(join(c.pod.dir, "fake", c.id), { recursive: true, force: true });
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.byPid.delete(c.pod, p.pid);
    this.rt.containerRecords.delete(c.id);
    this.rt.containers.delete(c.id);
  }

  protected async killAll(c: Container): Promise<void> {
    for (const p of Object.values(c.record.execs)) if (p.state === "running") await requireHolder(c.pod).kill(p.pid, 9).catch(() => {});
  }

  /** What gVisor's tasks do when the runsc sandbox dies: tell the pod, whose sandboxer ends it. */
  sandboxDies(podId: string, exitStatus: number): void {
    this.rt.pods.get(podId)!.sandboxDied(exitStatus);
  }

  override async podStats(): Promise<CgroupStats> {
    return { ...FAKE_STATS, cpuUsageNs: 0n };
  }
}
