import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { Container } from "../../../src/pod/container.js";
import type { ContainerOps, ContainerRuntime, InitLaunch, LaunchedInit } from "../../../src/pod/container-runtime.js";
import type { OciProcess } from "../../../src/pod/oci-spec.js";
import { requireHolder } from "../../../src/pod/pod-tasks.js";
import type { Pod } from "../../../src/pod/pod.js";
import type { ProcessRecord } from "../../../src/pod/records.js";
import type { CgroupStats, CheckpointSpec, CreateTaskSpec } from "../../../src/task/task-backend.js";
import { Gates } from "./gates.js";

/** Stats the fake kind reports for any running container. */
export const FAKE_STATS: CgroupStats = { version: 2, cpuUsageNs: 1n, cpuUserNs: 1n, cpuSystemNs: 0n, memoryUsageBytes: 4096n, memoryLimitBytes: 0n, pidsCurrent: 1n, pidsLimit: 0n };

/**
 * The fake kind's containers, step 2 of docs/guides/adding-a-sandboxer-kind.md:
 * a container's init is one process its pod's supervisor spawns (the image's
 * args), created at Create and "released" at Start; signals go through the
 * supervisor. Works over a FakeSupervisor and over a real holder alike.
 */
export class FakeRuntime implements ContainerRuntime {
  readonly holderSetsPodSysctls = true;
  readonly holderMountsRootfs = true;
  /** Containers whose preparation (alongside the rootfs mount) fails, once. */
  readonly failPrepare = new Set<string>();
  /** Containers whose Start (the engine's release) fails, once. */
  readonly failStart = new Set<string>();
  /** Engine calls, in order (`launch c1`, `undo c1`, `remove c1`...). */
  readonly calls: string[] = [];
  /** Steps held until released or their caller gives up: `podStarted` (the engine's pod start), `launch` (the init spawned, not yet returned), `start`, `exec`. */
  readonly gates = new Gates();

  /** Whether the fake kind saves containers (Checkpoint); without it, Checkpoint is Unimplemented with {@link checkpointUnsupported}. */
  checkpointable = true;
  readonly checkpointUnsupported = "fake: no checkpoints";

  constructor(private readonly ops: ContainerOps) {}

  get checkpoint(): ((c: Container, spec: CheckpointSpec) => Promise<void>) | undefined {
    if (!this.checkpointable) return undefined;
    return async (c, spec) => {
      this.calls.push(`checkpoint ${c.id} ${spec.path}${spec.exit ? " exit" : ""}`);
    };
  }

  checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, "fake: no checkpoints");
  }

  async prepareLaunch(id: string): Promise<void> {
    this.calls.push(`prepare ${id}`);
    if (this.failPrepare.delete(id)) throw new RuntimeError(Code.Internal, "fake: preparation failed");
  }

  async launchInit(l: InitLaunch): Promise<LaunchedInit> {
    this.calls.push(`launch ${l.id}`);
    const args = l.oci.process?.args ?? [];
    if (args[0] === "fail-launch") throw new RuntimeError(Code.InvalidArgument, "fake: launch refused");
    const pid = await l.holder.spawn({ id: l.spawnId, argv: args, env: [] });
    await this.gates.pass("launch", l.signal);
    return { pid, memoryCgroup: "", fields: {} };
  }

  async undoLaunch(id: string): Promise<void> {
    this.calls.push(`undo ${id}`);
  }

  async podStarted(pod: Pod, signal?: AbortSignal): Promise<void> {
    this.calls.push(`podStarted ${pod.id}`);
    await this.gates.pass("podStarted", signal);
  }

  async podStopping(pod: Pod): Promise<void> {
    this.calls.push(`podStopping ${pod.id}`);
  }

  async startInit(c: Container, signal?: AbortSignal): Promise<void> {
    await this.gates.pass("start", signal);
    if (this.failStart.delete(c.id)) throw new RuntimeError(Code.Internal, "fake: start failed");
  }

  async startExec(c: Container, execId: string, p: ProcessRecord, signal?: AbortSignal): Promise<{ pid: number; startedAt: Date }> {
    await this.gates.pass("exec", signal).catch((err: unknown) => {
      this.ops.markExited(c, execId, 255, new Date()); // abandoned: it never ran for the caller
      throw err;
    });
    if ((p.process as OciProcess).args?.[0] === "fail-exec") {
      // The launcher ran and failed (runc exec's status): the exec ended, as runc's and the guest's runtimes say.
      this.ops.markExited(c, execId, 255, new Date());
      throw new RuntimeError(Code.FailedPrecondition, "fake: exec failed");
    }
    const startedAt = new Date();
    const pid = await requireHolder(c.pod).spawn({ id: p.spawnId, argv: (p.process as OciProcess).args ?? [], env: [] });
    return { pid, startedAt };
  }

  async signalInit(c: Container, signal: number): Promise<void> {
    await requireHolder(c.pod).kill(c.record.init.pid, signal);
  }

  async killAll(c: Container): Promise<void> {
    for (const p of Object.values(c.record.execs)) if (p.state === "running") await requireHolder(c.pod).kill(p.pid, 9).catch(() => {});
  }

  async ps(c: Container): Promise<number[]> {
    return [c.record.init.pid, ...Object.values(c.record.execs).filter((p) => p.state === "running").map((p) => p.pid)];
  }

  async freeze(c: Container): Promise<void> {
    this.calls.push(`freeze ${c.id}`);
  }

  async thaw(c: Container): Promise<void> {
    this.calls.push(`thaw ${c.id}`);
  }

  async update(): Promise<void> {}

  async stats(): Promise<CgroupStats> {
    return { ...FAKE_STATS };
  }

  removeExecFiles(): void {}

  async remove(c: Container): Promise<void> {
    this.calls.push(`remove ${c.id}`);
  }

  async podStats(): Promise<CgroupStats> {
    return { ...FAKE_STATS, cpuUsageNs: 0n };
  }

  /** What gVisor's runtime does when the runsc sandbox dies: tell the pod, whose sandboxer ends it. */
  sandboxDies(pod: Pod, exitStatus: number): void {
    pod.sandboxDied(exitStatus);
  }
}
