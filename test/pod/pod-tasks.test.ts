import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import type { TaskEvent } from "../../src/task/task-event.js";
import { FakeWorld } from "./fakes/fake-host.js";
import { createFakeSandboxer, recordingEvents } from "./fakes/fake-kind.js";
import { bundle, keepAlive, podRequest } from "./lifecycle-suite.js";
import { recordedExit } from "../../src/cli/recorded-exit.js";

const noStdio = { stdin: "", stdout: "", stderr: "", terminal: false };

/** A fake-kind sandboxer with pod p1 ready. */
async function ready(t: { after(fn: () => Promise<void>): void }) {
  const dir = mkdtempSync("/tmp/core-tasks-");
  const world = new FakeWorld();
  const events: TaskEvent[] = [];
  const { sandboxer, runtime } = createFakeSandboxer(dir, world, recordingEvents(events));
  const alive = keepAlive();
  t.after(async () => {
    clearInterval(alive);
    await sandboxer.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await sandboxer.create(podRequest("p1"));
  await sandboxer.start("p1");
  const create = (id: string, argv: string[] = ["sleep"], sandboxId = "p1") =>
    sandboxer.tasks.create({ containerId: id, bundle: bundle(dir, id, argv), rootfs: [], stdio: noStdio, checkpoint: "", namespace: "k8s.io", sandboxId });
  const wait = (id: string, execId = "") => sandboxer.tasks.wait(id, execId, AbortSignal.timeout(5000));
  return { dir, world, events, sandboxer, runtime, create, wait, sup: () => world.supervisors.get("p1")! };
}

describe("task backend (PodTasks) over the fake container runtime", () => {
  it("Create: NotFound for an unknown sandbox, FailedPrecondition for one not ready, AlreadyExists for a second with the same id", async (t) => {
    const k = await ready(t);
    await assert.rejects(k.create("c1", ["sleep"], "nope"), { code: Code.NotFound });
    await k.sandboxer.create(podRequest("p2"));
    await assert.rejects(k.create("c1", ["sleep"], "p2"), { code: Code.FailedPrecondition, message: /is created, not ready/ });
    await k.create("c1");
    await assert.rejects(k.create("c1"), { code: Code.AlreadyExists });
    assert.deepEqual(k.events.map((e) => e.kind), ["create"]);
  });

  it("Checkpoint: NotFound for an unknown container, FailedPrecondition before Start, the engine's save once running, Unimplemented (with the kind's reason) for a kind that cannot", async (t) => {
    const k = await ready(t);
    const spec = { path: join(k.dir, "img"), exit: false };
    await assert.rejects(k.sandboxer.tasks.checkpoint("nope", spec), { code: Code.NotFound });
    await k.create("c1");
    await assert.rejects(k.sandboxer.tasks.checkpoint("c1", spec), { code: Code.FailedPrecondition, message: /is created: only a running or paused container/ });
    await k.sandboxer.tasks.start("c1", "");
    await k.sandboxer.tasks.checkpoint("c1", { ...spec, exit: true });
    assert.deepEqual(k.runtime.calls.filter((c) => c.startsWith("checkpoint")), [`checkpoint c1 ${spec.path} exit`]);
    k.runtime.checkpointable = false;
    await assert.rejects(k.sandboxer.tasks.checkpoint("c1", spec), { code: Code.Unimplemented, message: /fake: no checkpoints/ });
  });

  it("Create whose engine launch fails is undone: the engine's undo ran, no record, no task", async (t) => {
    const k = await ready(t);
    await assert.rejects(k.create("c1", ["fail-launch"]), { code: Code.InvalidArgument, message: /launch refused/ });
    assert.deepEqual(k.runtime.calls.filter((c) => c.endsWith(" c1")), ["prepare c1", "launch c1", "undo c1"]);
    assert.equal(k.sandboxer.tasks.has("c1"), false);
    assert.deepEqual(readdirSync(join(k.dir, "containers")), []);
    assert.deepEqual(k.events, []);
  });

  it("Create runs the engine's preparation alongside the rootfs mount, then launches; either one failing undoes both, with its own error", async (t) => {
    const k = await ready(t);
    const rootfs = [{ type: "bind", source: "/tmp", target: "", options: ["rbind"] }];
    const create = (id: string) => k.sandboxer.tasks.create({ containerId: id, bundle: bundle(k.dir, id, ["sleep"]), rootfs, stdio: noStdio, checkpoint: "", namespace: "k8s.io", sandboxId: "p1" });
    const mounted = (id: string) => k.sup().mountCalls.filter((m) => ("umount" in m ? m.umount : m.target).includes(`/${id}/rootfs`)).map((m) => ("umount" in m ? "umount" : "mount"));

    await create("c1");
    assert.deepEqual(k.runtime.calls.filter((c) => c.endsWith(" c1")), ["prepare c1", "launch c1"]);
    assert.deepEqual(mounted("c1"), ["mount"]);

    k.sup().failMounts = true;
    await assert.rejects(create("c2"), { code: Code.InvalidArgument, message: /mount bind on .*refused/ });
    k.sup().failMounts = false;
    assert.deepEqual(k.runtime.calls.filter((c) => c.endsWith(" c2")), ["prepare c2", "undo c2"], "prepared, never launched, undone");
    assert.deepEqual(mounted("c2"), []);

    k.runtime.failPrepare.add("c3");
    await assert.rejects(create("c3"), { code: Code.Internal, message: /preparation failed/ });
    assert.deepEqual(k.runtime.calls.filter((c) => c.endsWith(" c3")), ["prepare c3", "undo c3"]);
    assert.deepEqual(mounted("c3"), ["mount", "umount"], "the rootfs mounted alongside is unmounted");
    for (const id of ["c2", "c3"]) assert.equal(k.sandboxer.tasks.has(id), false);
    assert.deepEqual(readdirSync(join(k.dir, "containers")), ["c1.json"]);
  });

  it("Create whose caller gives up while the engine launches is undone: it fails with the caller's reason, the engine's undo ran, no record, no task", async (t) => {
    const k = await ready(t);
    k.runtime.gates.hold("launch");
    const caller = new AbortController();
    const created = k.sandboxer.tasks.create({ containerId: "c1", bundle: bundle(k.dir, "c1", ["sleep"]), rootfs: [], stdio: noStdio, checkpoint: "", namespace: "k8s.io", sandboxId: "p1", signal: caller.signal });
    await k.runtime.gates.reached("launch");
    caller.abort(new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded"));
    await assert.rejects(created, { code: Code.DeadlineExceeded, message: /context deadline exceeded/ });
    assert.deepEqual(k.runtime.calls.filter((c) => c.endsWith(" c1")), ["prepare c1", "launch c1", "undo c1"]);
    assert.equal(k.sandboxer.tasks.has("c1"), false);
    assert.deepEqual(readdirSync(join(k.dir, "containers")), []);
    assert.equal(k.events.some((e) => e.kind === "create"), false);
  });

  it("Start whose caller gives up in the engine's start leaves the container created, with the caller's reason", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    k.runtime.gates.hold("start");
    const caller = new AbortController();
    const started = k.sandboxer.tasks.start("c1", "", caller.signal);
    await k.runtime.gates.reached("start");
    caller.abort(new RuntimeError(Code.Canceled, "context canceled"));
    await assert.rejects(started, { code: Code.Canceled });
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "created");
    assert.equal(k.events.some((e) => e.kind === "start"), false);
  });

  it("Start that fails in the engine leaves the container created (no start event), and Delete then reports it never ran (137)", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    k.runtime.failStart.add("c1");
    await assert.rejects(k.sandboxer.tasks.start("c1", ""), { code: Code.Internal });
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "created");
    assert.equal(k.events.some((e) => e.kind === "start"), false);
    const e = await k.sandboxer.tasks.delete("c1", "");
    assert.equal(e.exitStatus, 137);
    assert.equal(k.sandboxer.tasks.has("c1"), false);
    assert.ok(k.events.some((x) => x.kind === "delete" && x.containerId === "c1"));
  });

  it("exitSource names where the exit is recorded: the journal while the daemon is away, the record once it saw it", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    const source = k.sandboxer.tasks.exitSource!("c1")!;
    assert.equal(recordedExit(source), undefined); // still running
    const pid = (await k.sandboxer.tasks.state("c1", "")).pid;
    await k.sandboxer.close(); // the daemon exits: only the supervisor's journal learns of the exit
    k.sup().exit(pid, 42);
    assert.equal(recordedExit(source)?.status, 42);
    assert.equal(k.sandboxer.tasks.exitSource!("nope"), undefined);
  });

  it("a second Start of a running container is an illegal transition (FailedPrecondition)", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    await assert.rejects(k.sandboxer.tasks.start("c1", ""), { code: Code.FailedPrecondition, message: /invalid state transition: running => running/ });
  });

  it("a process that exits at once is reported after its start event, with its code", async (t) => {
    const k = await ready(t);
    await k.create("c1", ["exit:5"]);
    await k.sandboxer.tasks.start("c1", "");
    assert.equal((await k.wait("c1")).exitStatus, 5);
    const kinds = k.events.filter((e) => e.containerId === "c1").map((e) => e.kind);
    assert.deepEqual(kinds, ["create", "start", "exit"]);
  });

  it("pause and resume go only running -> paused -> running; anything else is FailedPrecondition", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await assert.rejects(k.sandboxer.tasks.pause("c1"), { code: Code.FailedPrecondition, message: /created => paused/ });
    await k.sandboxer.tasks.start("c1", "");
    await assert.rejects(k.sandboxer.tasks.resume("c1"), { code: Code.FailedPrecondition, message: /not paused/ });
    await k.sandboxer.tasks.pause("c1");
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "paused");
    await assert.rejects(k.sandboxer.tasks.pause("c1"), { code: Code.FailedPrecondition });
    await k.sandboxer.tasks.resume("c1");
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "running");
    assert.deepEqual(k.runtime.calls.slice(-2), ["freeze c1", "thaw c1"]);
  });

  it("Kill of an exited process is NotFound; Delete before exit is FailedPrecondition", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    await assert.rejects(k.sandboxer.tasks.delete("c1", ""), { code: Code.FailedPrecondition, message: /it is running/ });
    await k.sandboxer.tasks.kill("c1", "", 15, false);
    assert.equal((await k.wait("c1")).exitStatus, 143);
    await assert.rejects(k.sandboxer.tasks.kill("c1", "", 9, false), { code: Code.NotFound });
  });

  it("execs: refused in a container not running, run and exit on their own, deleted alone", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    const exec = { containerId: "c1", execId: "e1", stdio: noStdio, process: { args: ["sleep"] } };
    await assert.rejects(k.sandboxer.tasks.exec(exec), { code: Code.FailedPrecondition, message: /not running/ });
    await k.sandboxer.tasks.start("c1", "");
    await assert.rejects(k.sandboxer.tasks.exec({ ...exec, process: {} }), { code: Code.InvalidArgument });
    await k.sandboxer.tasks.exec(exec);
    await assert.rejects(k.sandboxer.tasks.exec(exec), { code: Code.AlreadyExists });
    const { pid } = await k.sandboxer.tasks.start("c1", "e1");
    assert.ok(pid > 0);
    assert.deepEqual((await k.sandboxer.tasks.pids("c1")).find((p) => p.pid === pid), { pid, execId: "e1" });
    await k.sandboxer.tasks.kill("c1", "e1", 9, false);
    assert.equal((await k.wait("c1", "e1")).exitStatus, 137);
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "running");
    await k.sandboxer.tasks.delete("c1", "e1");
    await assert.rejects(k.sandboxer.tasks.state("c1", "e1"), { code: Code.NotFound });
  });

  it("an exec whose launch ran and failed is Exited 255 and its Start fails; the container runs on", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    await k.sandboxer.tasks.exec({ containerId: "c1", execId: "e1", stdio: noStdio, process: { args: ["fail-exec"] } });
    await assert.rejects(k.sandboxer.tasks.start("c1", "e1"), { code: Code.FailedPrecondition, message: /exec failed/ });
    assert.equal((await k.wait("c1", "e1")).exitStatus, 255);
    await assert.rejects(k.sandboxer.tasks.start("c1", "e1"), { code: Code.FailedPrecondition, message: /stopped => running/ });
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "running");
  });

  it("an exec Start whose caller gives up fails with the caller's reason and ends the exec (Exited 255, never running); the container runs on", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    await k.sandboxer.tasks.exec({ containerId: "c1", execId: "e1", stdio: noStdio, process: { args: ["sleep"] } });
    k.runtime.gates.hold("exec");
    const caller = new AbortController();
    const started = k.sandboxer.tasks.start("c1", "e1", caller.signal);
    await k.runtime.gates.reached("exec");
    caller.abort(new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded"));
    await assert.rejects(started, { code: Code.DeadlineExceeded });
    assert.equal((await k.wait("c1", "e1")).exitStatus, 255);
    assert.equal(k.events.some((e) => e.kind === "exec-started"), false);
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "running");
  });

  it("Wait gives up with the caller's reason and leaves the process alone", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    const gaveUp = new AbortController();
    const w = k.sandboxer.tasks.wait("c1", "", gaveUp.signal);
    gaveUp.abort(new Error("client went away"));
    await assert.rejects(w, /client went away/);
    assert.equal((await k.sandboxer.tasks.state("c1", "")).state, "running");
  });

  it("Shutdown of the pod removes its containers' records through the engine", async (t) => {
    const k = await ready(t);
    await k.create("c1");
    await k.sandboxer.tasks.start("c1", "");
    await k.sandboxer.shutdown("p1");
    assert.ok(k.runtime.calls.includes("remove c1"));
    assert.equal(k.sandboxer.tasks.has("c1"), false);
    assert.deepEqual(readdirSync(join(k.dir, "containers")), []);
    assert.equal(existsSync(join(k.dir, "pods", "p1")), false);
  });
});
