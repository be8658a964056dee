import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { ManualClock } from "../../testing/manual-clock.js";
import { defaultHolderBinary } from "../../src/holder/start-holder.js";
import { silentLogger } from "../../src/log/logger.js";
import { HolderHost } from "../../src/pod/holder-host.js";
import { killQuietly, waitGone } from "../../src/pod/pod.js";
import { PodRuntime } from "../../src/pod/pod-runtime.js";
import { PodSandboxer } from "../../src/pod/pod-sandboxer.js";
import type { TaskEvent } from "../../src/task/task-event.js";
import { FakeWorld } from "./fakes/fake-host.js";
import { createFakeSandboxer, fakeRuntimeOptions, recordingEvents } from "./fakes/fake-kind.js";
import { FakeRuntime } from "./fakes/fake-runtime.js";
import { PodTasks } from "../../src/pod/pod-tasks.js";
import { keepAlive, lifecycleSuite, podRequest, restartWith, runContainer, shutDownAll, type LifecycleSubject } from "./lifecycle-suite.js";

/** The fake kind: fake supervisor, fake host strategy, fake container engine. */
async function fakeKind(clock?: ManualClock): Promise<LifecycleSubject & { world: FakeWorld; runtime: FakeRuntime; rt: PodRuntime }> {
  const dir = mkdtempSync("/tmp/core-fake-");
  const world = new FakeWorld();
  const events: TaskEvent[] = [];
  let made = createFakeSandboxer(dir, world, recordingEvents(events), clock);
  const subject = {
    dir,
    world,
    events,
    sandboxer: made.sandboxer,
    runtime: made.runtime,
    rt: made.rt,
    async restart() {
      await subject.sandboxer.close();
      made = createFakeSandboxer(dir, world, recordingEvents(events), clock);
      subject.sandboxer = made.sandboxer;
      subject.runtime = made.runtime;
      subject.rt = made.rt;
      await made.sandboxer.recover();
      return made.sandboxer;
    },
    killSupervisor: (id: string) => world.supervisors.get(id)!.die(),
    argv: (p: string) => ({ sleep: ["sleep"], "ignore-term": ["sleep", "ignore-term"], exit3: ["exit:3"] })[p],
    async exitBehindOurBack(podId: string, pid: number) {
      world.supervisors.get(podId)!.exit(pid, 7);
      return 7;
    },
    async dispose() {
      await subject.sandboxer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return subject;
}

/** The holder host strategy with a real kuasar-holder, containers from the fake engine running real programs. */
async function holderKind(): Promise<LifecycleSubject> {
  const dir = mkdtempSync("/tmp/core-holder-");
  const events: TaskEvent[] = [];
  const make = () => {
    const rt = new PodRuntime({ ...fakeRuntimeOptions(dir), holderBinary: defaultHolderBinary }, silentLogger(), recordingEvents(events), 0);
    const tasks = new PodTasks(rt, (ops) => new FakeRuntime(ops));
    return new PodSandboxer("holder-fake", rt, tasks, new HolderHost(rt, tasks, []));
  };
  const holderPid = async (id: string) => Number((await subject.sandboxer.status(id, true)).info["holder_pid"]);
  const subject: LifecycleSubject = {
    dir,
    events,
    sandboxer: make(),
    restart: () => restartWith(subject, make),
    killSupervisor: (id: string) => void holderPid(id).then((pid) => killQuietly(pid)),
    argv: (p: string) => ({ sleep: ["/bin/sleep", "1000"], "ignore-term": ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & wait; sleep 1000"], exit3: ["/bin/sh", "-c", "exit 3"] })[p],
    async ignoringTerm(pid: number) {
      // SigIgn is a hex mask with bit (signal - 1): SIGTERM is 1 << 14.
      const ignores = () => (BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0"}`) & (1n << 14n)) !== 0n;
      for (const until = Date.now() + 10_000; !ignores(); ) {
        assert.ok(Date.now() < until, `process ${pid} set no SIGTERM trap within 10 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async exitBehindOurBack(_podId: string, pid: number) {
      killQuietly(pid);
      await waitGone(pid, 5000);
      return 137;
    },
    dispose: () => shutDownAll(subject.sandboxer, dir),
  };
  return subject;
}

lifecycleSuite("the fake kind", fakeKind, { containers: true });
lifecycleSuite("the holder host (real kuasar-holder), fake container engine", holderKind, { containers: true });

describe("sandboxer skeleton: failure paths (fake kind)", () => {
  const use = async (t: { after(fn: () => Promise<void>): void }, clock?: ManualClock) => {
    const s = await fakeKind(clock);
    const alive = keepAlive();
    t.after(async () => {
      clearInterval(alive);
      await s.dispose();
    });
    return s;
  };

  it("a Start that fails after the supervisor is up is rolled back whole: supervisor killed, host released, pod forgotten", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    s.world.failures.set("setUp", new Error("guest setup failed"));
    await assert.rejects(s.sandboxer.start("p1"), /guest setup failed/);
    assert.deepEqual(s.world.calls, ["launch p1", "attached p1", "setUp p1", "kill p1", "release p1", "discard p1"]);
    assert.equal(s.sandboxer.has("p1"), false);
    assert.equal(existsSync(join(s.dir, "pods", "p1")), false);
    assert.deepEqual(readdirSync(join(s.dir, "sandboxes")), []);
  });

  it("a Start that fails before any supervisor exists leaves nothing either", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    s.world.failures.set("launch", new Error("no room for a VM"));
    await assert.rejects(s.sandboxer.start("p1"), /no room for a VM/);
    assert.equal(s.sandboxer.has("p1"), false);
    assert.deepEqual(readdirSync(join(s.dir, "pods")), []);
  });

  it("a Start whose caller gave up is undone, and a second Start meanwhile is refused", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    let open!: () => void;
    s.world.setUpGate = new Promise((r) => (open = r));
    const caller = new AbortController();
    const first = s.sandboxer.start("p1", caller.signal);
    await assert.rejects(s.sandboxer.start("p1"), { code: Code.FailedPrecondition, message: /start is already in progress/ });
    caller.abort(new Error("deadline exceeded"));
    open();
    await assert.rejects(first, /deadline exceeded/);
    assert.equal(s.sandboxer.has("p1"), false);
  });

  for (const [stage, where] of [
    ["launch", "host"],
    ["setUp", "host"],
    ["podStarted", "engine"],
  ] as const) {
    it(`a Start whose caller's deadline passes at ${stage} fails with DeadlineExceeded and is undone whole: engine stopped, supervisor killed, host released, pod forgotten`, async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      const gates = where === "host" ? s.world.gates : s.runtime.gates;
      gates.hold(stage);
      const caller = new AbortController();
      const started = s.sandboxer.start("p1", caller.signal);
      await gates.reached(stage);
      caller.abort(new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded"));
      await assert.rejects(started, { code: Code.DeadlineExceeded, message: /context deadline exceeded/ });
      assert.equal(s.sandboxer.has("p1"), false);
      assert.deepEqual(s.world.calls.slice(-3), ["kill p1", "release p1", "discard p1"]);
      assert.equal(s.world.supervisors.has("p1"), false);
      // The engine's pod start is stopped only once it was asked for.
      assert.equal(s.runtime.calls.includes("podStopping p1"), stage === "podStarted" || stage === "setUp");
      assert.deepEqual(readdirSync(join(s.dir, "pods")), []);
      assert.deepEqual(readdirSync(join(s.dir, "sandboxes")), []);
      // Nothing half-done blocks a pod of the same id afterwards.
      await s.sandboxer.create(podRequest("p1"));
      assert.equal((await s.sandboxer.start("p1")).state, "ready");
    });
  }

  it("Create refused by the kind (FailedPrecondition) makes nothing", async (t) => {
    const s = await use(t);
    await assert.rejects(s.sandboxer.create(podRequest("p1", { annotations: { "fake/refuse": "no hypervisor" } })), { code: Code.FailedPrecondition, message: /no hypervisor/ });
    assert.equal(s.sandboxer.has("p1"), false);
    assert.deepEqual(readdirSync(join(s.dir, "pods")), []);
    await s.sandboxer.create(podRequest("p1"));
    await assert.rejects(s.sandboxer.create(podRequest("p1")), { code: Code.AlreadyExists });
  });

  it("a supervisor alive but unreachable is killed and the pod ended as if it died", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.start("p1");
    const sup = s.world.supervisors.get("p1")!;
    sup.reachable = false;
    const stopped = s.sandboxer.wait("p1", AbortSignal.timeout(20_000));
    sup.breakConnection(); // while the supervisor lives on
    assert.equal((await stopped).exitStatus, 255);
    assert.ok(s.world.calls.includes("kill p1"));
    assert.equal(sup.alive, false);
  });

  it("a dropped connection to a live supervisor is re-made: the pod stays ready and its containers keep running", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.start("p1");
    await runContainer(s, "p1", "c1", ["sleep"]);
    const sup = s.world.supervisors.get("p1")!;
    sup.breakConnection();
    while (!s.world.calls.filter((c) => c === "attached p1")[1]) await new Promise((r) => setImmediate(r));
    assert.equal((await s.sandboxer.status("p1", false)).state, "ready");
    assert.equal((await s.sandboxer.tasks.state("c1", "")).state, "running");
    await s.sandboxer.tasks.kill("c1", "", 15, false); // through the new connection
    assert.equal((await s.sandboxer.tasks.wait("c1", "", AbortSignal.timeout(5000))).exitStatus, 143);
  });

  it("Stop's grace (on a manual clock): SIGTERM to each running init first; nothing more until the grace is over, then the supervisor's shutdown kills what outlived it", async (t) => {
    const clock = new ManualClock();
    const s = await use(t, clock);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.start("p1");
    const polite = await runContainer(s, "p1", "polite", ["sleep"]);
    const stubborn = await runContainer(s, "p1", "stubborn", ["sleep", "ignore-term"]);
    const sup = s.world.supervisors.get("p1")!;
    const stopped = s.sandboxer.stop("p1", 30);
    await clock.waiting();
    assert.deepEqual(sup.signals.filter(([, sig]) => sig === 15).map(([pid]) => pid).sort(), [polite, stubborn].sort());
    assert.equal((await s.sandboxer.tasks.wait("polite", "", AbortSignal.timeout(5000))).exitStatus, 143);
    clock.advance(29_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.world.calls.includes("shutdown p1"), false, "the grace is not over yet");
    assert.equal((await s.sandboxer.tasks.state("stubborn", "")).state, "running");
    clock.advance(1);
    await stopped;
    assert.equal((await s.sandboxer.tasks.wait("stubborn", "", AbortSignal.timeout(5000))).exitStatus, 137);
    assert.deepEqual(s.world.calls.slice(-2), ["shutdown p1", "release p1"]);
  });

  it("Stop with no grace asks nothing of the containers: the supervisor's shutdown ends them (137)", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.start("p1");
    await runContainer(s, "p1", "c1", ["sleep"]);
    const sup = s.world.supervisors.get("p1")!;
    await s.sandboxer.stop("p1", 0);
    assert.deepEqual(sup.signals, []);
    assert.equal((await s.sandboxer.tasks.wait("c1", "", AbortSignal.timeout(5000))).exitStatus, 137);
  });

  it("the engine's sandbox dying stops the pod with that status and its containers", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.start("p1");
    await runContainer(s, "p1", "c1", ["sleep"]);
    const stopped = s.sandboxer.wait("p1", AbortSignal.timeout(20_000));
    s.runtime.sandboxDies(s.rt.pods.get("p1")!, 7);
    assert.equal((await stopped).exitStatus, 7);
    assert.equal((await s.sandboxer.tasks.wait("c1", "", AbortSignal.timeout(5000))).exitStatus, 137);
  });

  it("Metrics sums the running containers of a ready pod, and is FailedPrecondition once it stopped", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await assert.rejects(s.sandboxer.metrics("p1"), { code: Code.FailedPrecondition });
    await s.sandboxer.start("p1");
    await runContainer(s, "p1", "c1", ["sleep"]);
    await runContainer(s, "p1", "c2", ["sleep"]);
    assert.equal((await s.sandboxer.metrics("p1")).memoryUsageBytes, 8192n);
    await s.sandboxer.stop("p1", 0);
    await assert.rejects(s.sandboxer.metrics("p1"), { code: Code.FailedPrecondition, message: /is stopped/ });
  });

  it("Update keeps labels and Kuasar's tasks extension, and refuses resources without a pod cgroup", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    await s.sandboxer.update("p1", { fields: ["labels"], labels: { a: "b" }, resources: undefined, tasksExtension: '{"tasks":[]}' });
    const st = await s.sandboxer.status("p1", false);
    assert.deepEqual(st.labels, { a: "b" });
    assert.equal(st.info["extensions.tasks"], '{"tasks":[]}');
    const resources = { cpuPeriod: 0, cpuQuota: 0, cpuShares: 0, memoryLimitBytes: 1 << 20 };
    await assert.rejects(s.sandboxer.update("p1", { fields: [], labels: {}, resources, tasksExtension: undefined }), { code: Code.FailedPrecondition });
  });

  it("reconciliation runs on its interval (manual clock): a sandbox never started since a restart stays until a whole interval passed, then goes", async (t) => {
    const dir = mkdtempSync("/tmp/core-fake-");
    const world = new FakeWorld();
    const clock = new ManualClock();
    const first = createFakeSandboxer(dir, world, recordingEvents([]), clock, 60_000).sandboxer;
    await first.create(podRequest("p1"));
    await first.close();
    const again = createFakeSandboxer(dir, world, recordingEvents([]), clock, 60_000).sandboxer;
    t.after(async () => {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await again.recover();
    clock.advance(59_999);
    assert.equal(again.has("p1"), true, "containerd may still Start it");
    const removed = new Promise<void>((resolve) => world.onCall((call) => call === "discard p1" && resolve()));
    clock.advance(1);
    await removed;
    await new Promise((r) => setImmediate(r)); // the rest of the removal is synchronous after the host's discard
    assert.equal(again.has("p1"), false);
  });

  it("a sandbox created before a restart and never started is removed by reconciliation; a stray pod dir too", async (t) => {
    const s = await use(t);
    await s.sandboxer.create(podRequest("p1"));
    mkdirSync(join(s.dir, "pods", "stray"));
    const again = await s.restart();
    await again.reconcile();
    assert.equal(again.has("p1"), false);
    assert.deepEqual(readdirSync(join(s.dir, "pods")), []);
  });
});
