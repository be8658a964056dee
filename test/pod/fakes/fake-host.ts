import { join } from "node:path";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { PodAgent } from "../../../src/holder/pod-agent.js";
import { EXIT_JOURNAL, type Pod, type PodJournal } from "../../../src/pod/pod.js";
import { goArch, type Platform, type PodHost } from "../../../src/pod/pod-host.js";
import type { SandboxRecord } from "../../../src/pod/records.js";
import { sumStats } from "../../../src/pod/sandbox-records.js";
import type { SandboxCreateRequest } from "../../../src/sandbox/sandboxer.js";
import type { CgroupStats } from "../../../src/task/task-backend.js";
import { FakeSupervisor } from "./fake-supervisor.js";
import { Gates } from "./gates.js";

/** The fake kind's supervisors, by sandbox id: they outlive a sandboxer, as holders outlive kuasard. */
export class FakeWorld {
  readonly supervisors = new Map<string, FakeSupervisor>();
  /** What the hosts were asked to do, in order (`launch pod1`, `kill pod1`...). */
  readonly calls: string[] = [];
  private readonly callListeners: Array<(call: string) => void> = [];

  /** Tells `fn` of every call from now on. */
  onCall(fn: (call: string) => void): void {
    this.callListeners.push(fn);
  }

  /** Records a call and tells the listeners. */
  record(call: string): void {
    this.calls.push(call);
    for (const fn of this.callListeners) fn(call);
  }
  /** Failures to inject, by step name (`launch`, `setUp`), once each. */
  readonly failures = new Map<string, Error>();
  /** Resolves a `setUp` that should hang until the test lets it go. */
  setUpGate: Promise<void> | undefined;
  /** Steps held until released or their caller gives up: `launch` (the supervisor is up, its agent not yet returned), `setUp`. */
  readonly gates = new Gates();

  take(step: string): void {
    const err = this.failures.get(step);
    if (!err) return;
    this.failures.delete(step);
    throw err;
  }
}

/**
 * The fake kind's host strategy, step 1 of docs/guides/adding-a-sandboxer-kind.md:
 * a pod's host side is one {@link FakeSupervisor}, made at launch and killed,
 * shut down or reconnected on the skeleton's say.
 */
export class FakeHost implements PodHost {
  readonly supervisorName = "holder";
  readonly podsDirMode = 0o700;

  constructor(readonly world: FakeWorld) {}

  checkCreate(req: SandboxCreateRequest): void {
    if (req.annotations["fake/refuse"]) throw new RuntimeError(Code.FailedPrecondition, `fake: ${req.annotations["fake/refuse"]}`);
  }

  journal(_record: SandboxRecord, podDir: string): PodJournal {
    return { path: join(podDir, EXIT_JOURNAL), clockSkewMs: 1000 };
  }

  async launch(pod: Pod, save: () => void, signal: AbortSignal | undefined): Promise<PodAgent> {
    this.world.record(`launch ${pod.id}`);
    const sup = new FakeSupervisor(join(pod.dir, EXIT_JOURNAL));
    this.world.supervisors.set(pod.id, sup);
    pod.record.podPid = 0; // no real process: 0 is nobody's pid
    save();
    await this.world.gates.pass("launch", signal);
    this.world.take("launch");
    return sup.connect();
  }

  async setUp(pod: Pod, signal: AbortSignal | undefined): Promise<void> {
    this.world.record(`setUp ${pod.id}`);
    if (this.world.setUpGate) await this.world.setUpGate;
    signal?.throwIfAborted();
    await this.world.gates.pass("setUp", signal);
    this.world.take("setUp");
  }

  attached(pod: Pod): void {
    this.world.record(`attached ${pod.id}`);
  }

  async connect(pod: Pod): Promise<PodAgent> {
    const sup = this.world.supervisors.get(pod.id);
    if (!sup) throw new RuntimeError(Code.Unavailable, "fake: no supervisor");
    return sup.connect();
  }

  supervisorAlive(pod: Pod): boolean {
    return this.world.supervisors.get(pod.id)?.alive ?? false;
  }

  async kill(pod: Pod): Promise<void> {
    this.world.record(`kill ${pod.id}`);
    this.world.supervisors.get(pod.id)?.die();
  }

  async shutdown(pod: Pod): Promise<void> {
    this.world.record(`shutdown ${pod.id}`);
    await pod.client?.shutdown().catch(() => {});
    this.world.supervisors.get(pod.id)?.die(false);
  }

  async release(pod: Pod): Promise<void> {
    this.world.record(`release ${pod.id}`);
  }

  async discard(pod: Pod): Promise<void> {
    this.world.record(`discard ${pod.id}`);
    this.world.supervisors.delete(pod.id);
  }

  statusInfo(_pod: Pod, verbose: boolean): Record<string, string> {
    return verbose ? { fake: "yes" } : {};
  }

  async metrics(_pod: Pod, containers: CgroupStats[]): Promise<CgroupStats> {
    return sumStats(containers);
  }

  platform(): Platform {
    return { os: "linux", architecture: goArch(process.arch), variant: "" };
  }

  async recovered(): Promise<void> {}

  async close(): Promise<void> {}
}
