import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import type { PodSandboxer } from "../../src/pod/pod-sandboxer.js";
import type { SandboxCreateRequest } from "../../src/sandbox/sandboxer.js";
import type { TaskEvent } from "../../src/task/task-event.js";

/** The programs a subject's containers can run. */
export type Program = "sleep" | "ignore-term" | "exit3";

/** One configuration of the skeleton (a kind's host strategy, with or without containers) under the shared suite. */
export interface LifecycleSubject {
  dir: string;
  sandboxer: PodSandboxer;
  /** Events published so far. */
  events: TaskEvent[];
  /** A new sandboxer over the same state dir, recovered: a daemon restart (the old one is closed first). */
  restart(): Promise<PodSandboxer>;
  /** Kills the pod's supervisor as kill -9 (or a VM crash) would. */
  killSupervisor(id: string): void;
  /** argv of `program`, or undefined when this configuration runs no containers (its container tests are not registered). */
  argv(program: Program): string[] | undefined;
  /** Resolves once process `pid` ignores SIGTERM (a real shell sets its trap some time after its start); absent: at once. */
  ignoringTerm?(pid: number): Promise<void>;
  /** Ends container process `pid` while no daemon is connected; resolves with the status the journal will hold. */
  exitBehindOurBack(podId: string, pid: number): Promise<number>;
  /** Releases whatever the subject made. */
  dispose(): Promise<void>;
}

/** A subject's restart over sandboxers from `make`: the old one closed, a new one recovered. */
export async function restartWith(subject: { sandboxer: PodSandboxer }, make: () => PodSandboxer): Promise<PodSandboxer> {
  await subject.sandboxer.close();
  subject.sandboxer = make();
  await subject.sandboxer.recover();
  return subject.sandboxer;
}

/** A subject's dispose where pods have real processes: every pod left in `dir` shut down, the sandboxer closed, `dir` removed. */
export async function shutDownAll(sandboxer: PodSandboxer, dir: string): Promise<void> {
  for (const id of readdirSync(join(dir, "pods"))) await sandboxer.shutdown(id).catch(() => {});
  await sandboxer.close();
  rmSync(dir, { recursive: true, force: true });
}

export function podRequest(id: string, over: Partial<SandboxCreateRequest> = {}): SandboxCreateRequest {
  return { id, namespace: "k8s.io", netnsPath: "", pod: undefined, annotations: {}, labels: {}, standalone: false, ...over };
}

/**
 * Keeps the event loop alive as the daemon's servers do: the skeleton's timers
 * (a Stop's grace, AbortSignal.timeout) are unref'd and would not.
 */
export function keepAlive(): NodeJS.Timeout {
  return setInterval(() => {}, 60_000);
}

/** Makes a bundle for container `id` of pod `podId` running `argv`. */
export function bundle(dir: string, id: string, argv: string[]): string {
  const b = join(dir, "bundles", id);
  mkdirSync(b, { recursive: true });
  writeFileSync(join(b, "config.json"), JSON.stringify({ ociVersion: "1.0.2", process: { args: argv, cwd: "/" } }));
  return b;
}

const noStdio = { stdin: "", stdout: "", stderr: "", terminal: false };

/** Creates and starts container `id` in `podId`; its init pid. */
export async function runContainer(s: LifecycleSubject, podId: string, id: string, argv: string[]): Promise<number> {
  await s.sandboxer.tasks.create({ containerId: id, bundle: bundle(s.dir, id, argv), rootfs: [], stdio: noStdio, checkpoint: "", namespace: "k8s.io", sandboxId: podId });
  return (await s.sandboxer.tasks.start(id, "")).pid;
}

async function exitOf(s: LifecycleSubject, id: string): Promise<number> {
  return (await s.sandboxer.tasks.wait(id, "", AbortSignal.timeout(20_000))).exitStatus;
}

/**
 * The lifecycle every configuration of the sandboxer skeleton must pass: the
 * fake kind, the fake hypervisor driver, and the real host strategies driven by
 * fakes where they can be. `make` gives a fresh subject per test.
 */
export function lifecycleSuite(name: string, make: () => Promise<LifecycleSubject>, o: { containers: boolean }): void {
  describe(`sandboxer lifecycle: ${name}`, () => {
    const use = async (t: { after(fn: () => Promise<void>): void }) => {
      const s = await make();
      const alive = keepAlive();
      t.after(async () => {
        clearInterval(alive);
        await s.dispose();
      });
      return s;
    };

    it("creates, starts, stops and removes a pod: created, ready, stopped (0), then nothing left", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      assert.equal((await s.sandboxer.status("p1", false)).state, "created");
      const started = await s.sandboxer.start("p1");
      assert.equal(started.state, "ready");
      assert.equal((await s.sandboxer.status("p1", true)).info["sandboxer"], s.sandboxer.kind);
      await s.sandboxer.stop("p1", 0);
      const st = await s.sandboxer.status("p1", false);
      assert.equal(st.state, "stopped");
      assert.equal(st.exitStatus, 0);
      assert.deepEqual(await s.sandboxer.wait("p1", AbortSignal.timeout(5000)), { exitStatus: 0, exitedAt: st.exitedAt });
      await s.sandboxer.shutdown("p1");
      assert.equal(s.sandboxer.has("p1"), false);
      assert.equal(existsSync(join(s.dir, "pods", "p1")), false);
      await assert.rejects(s.sandboxer.status("p1", false), { code: Code.NotFound });
    });

    it("refuses a second Start and a Start after Stop as illegal transitions (FailedPrecondition), the pod unchanged", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      await assert.rejects(s.sandboxer.start("p1"), { code: Code.FailedPrecondition, message: /invalid state transition: ready => ready/ });
      assert.equal((await s.sandboxer.status("p1", false)).state, "ready");
      await s.sandboxer.stop("p1", 0);
      await assert.rejects(s.sandboxer.start("p1"), { code: Code.FailedPrecondition, message: /invalid state transition: stopped => ready/ });
      assert.equal((await s.sandboxer.status("p1", false)).state, "stopped");
      await s.sandboxer.shutdown("p1");
    });

    it("Shutdown of an unknown sandbox succeeds and leaves it unknown; a bad id is InvalidArgument with nothing made", async (t) => {
      const s = await use(t);
      await s.sandboxer.shutdown("nope");
      await assert.rejects(s.sandboxer.status("nope", false), { code: Code.NotFound });
      await assert.rejects(s.sandboxer.create(podRequest("../evil")), { code: Code.InvalidArgument });
      assert.equal(existsSync(join(s.dir, "evil")), false);
    });

    it("Wait resolves once the pod stopped, and rejects with the caller's reason when it gives up first", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      const gaveUp = new AbortController();
      const abandoned = s.sandboxer.wait("p1", gaveUp.signal);
      gaveUp.abort(new Error("caller gone"));
      await assert.rejects(abandoned, /caller gone/);
      const waiting = s.sandboxer.wait("p1", AbortSignal.timeout(20_000));
      await s.sandboxer.stop("p1", 0);
      assert.equal((await waiting).exitStatus, 0);
      await s.sandboxer.shutdown("p1");
    });

    it("reports the platform of the host's architecture", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      const arch = { x64: "amd64", arm64: "arm64", ia32: "386" }[process.arch as string] ?? process.arch;
      assert.deepEqual(await s.sandboxer.platform("p1"), { os: "linux", architecture: arch, variant: "" });
      await s.sandboxer.shutdown("p1");
    });

    it("a lost supervisor ends the pod: NotReady (255, with a reason), an exited container keeps its code, running ones Exited 137", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      const sleep = s.argv("sleep");
      if (sleep) {
        await runContainer(s, "p1", "early", s.argv("exit3")!);
        assert.equal(await exitOf(s, "early"), 3);
        await runContainer(s, "p1", "long", sleep);
      }
      const stopped = s.sandboxer.wait("p1", AbortSignal.timeout(20_000));
      s.killSupervisor("p1");
      assert.equal((await stopped).exitStatus, 255);
      const st = await s.sandboxer.status("p1", false);
      assert.equal(st.state, "stopped");
      assert.match(st.info["exit_reason"] ?? "", /supervisor .* died/);
      if (sleep) {
        assert.equal(await exitOf(s, "early"), 3);
        assert.equal(await exitOf(s, "long"), 137);
        assert.ok(s.events.some((e) => e.kind === "exit" && e.containerId === "long" && e.exitStatus === 137));
      }
      await s.sandboxer.stop("p1", 0); // Stop of a pod that ended this way is quick and OK
      await s.sandboxer.shutdown("p1");
      assert.equal(existsSync(join(s.dir, "pods", "p1")), false);
    });

    if (o.containers) it("stops with grace: SIGTERM first, what ignores it is killed when the grace is over", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      const sleep = s.argv("sleep");
      assert.ok(sleep);
      await runContainer(s, "p1", "polite", sleep);
      const stubborn = await runContainer(s, "p1", "stubborn", s.argv("ignore-term")!);
      await s.ignoringTerm?.(stubborn);
      await s.sandboxer.stop("p1", 1);
      assert.equal(await exitOf(s, "polite"), 143);
      assert.equal(await exitOf(s, "stubborn"), 137);
      assert.equal((await s.sandboxer.status("p1", false)).exitStatus, 0);
      await s.sandboxer.shutdown("p1");
    });

    it("recovers after a restart: the ready pod is re-attached, exits while the daemon was away are reported, Stop works", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      await s.sandboxer.create(podRequest("p2"));
      const sleep = s.argv("sleep");
      let pid = 0;
      if (sleep) {
        pid = await runContainer(s, "p1", "c1", sleep);
        await runContainer(s, "p1", "c2", sleep);
      }
      await s.sandboxer.close();
      const status = sleep ? await s.exitBehindOurBack("p1", pid) : 0;
      const again = await s.restart();
      assert.equal((await again.status("p1", false)).state, "ready");
      assert.equal((await again.status("p2", false)).state, "created");
      if (sleep) {
        assert.equal((await again.tasks.wait("c1", "", AbortSignal.timeout(20_000))).exitStatus, status);
        assert.equal((await again.tasks.state("c2", "")).state, "running");
      }
      await again.stop("p1", 0);
      assert.equal((await again.status("p1", false)).state, "stopped");
      await again.shutdown("p1");
      await again.shutdown("p2");
      assert.equal(again.has("p1") || again.has("p2"), false);
    });

    if (o.containers) it("refuses Delete of a running container (FailedPrecondition), then deletes it once it exited", async (t) => {
      const s = await use(t);
      await s.sandboxer.create(podRequest("p1"));
      await s.sandboxer.start("p1");
      const sleep = s.argv("sleep");
      assert.ok(sleep);
      await runContainer(s, "p1", "c1", sleep);
      await assert.rejects(s.sandboxer.tasks.delete("c1", ""), { code: Code.FailedPrecondition });
      await s.sandboxer.tasks.kill("c1", "", 9, false);
      assert.equal(await exitOf(s, "c1"), 137);
      assert.equal((await s.sandboxer.tasks.delete("c1", "")).exitStatus, 137);
      assert.equal(s.sandboxer.tasks.has("c1"), false);
      await s.sandboxer.shutdown("p1");
    });
  });
}
