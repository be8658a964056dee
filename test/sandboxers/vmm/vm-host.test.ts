import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import type { Hypervisor, VmControl, VmSpec } from "../../../src/sandboxers/vmm/driver/hypervisor.js";
import { join } from "node:path";
import { defaultHolderBinary } from "../../../src/holder/start-holder.js";
import { silentLogger } from "../../../src/log/logger.js";
import { killQuietly, waitGone } from "../../../src/pod/pod.js";
import { PodRuntime } from "../../../src/pod/pod-runtime.js";
import { PodSandboxer } from "../../../src/pod/pod-sandboxer.js";
import { PodTasks } from "../../../src/pod/pod-tasks.js";
import { defaultHypervisorOptions } from "../../../src/sandboxers/vmm/hypervisor-options.js";
import { VmHost } from "../../../src/sandboxers/vmm/vm-host.js";
import { VmmRuntime } from "../../../src/sandboxers/vmm/vmm-runtime.js";
import type { TaskEvent } from "../../../src/task/task-event.js";
import { fakeRuntimeOptions, recordingEvents } from "../../pod/fakes/fake-kind.js";
import { lifecycleSuite, podRequest, restartWith, shutDownAll, type LifecycleSubject } from "../../pod/lifecycle-suite.js";
import { FakeHypervisor, writeFakeVirtiofsd } from "./fake-hypervisor.js";

/**
 * The VM host strategy (the vmm kind's) on the fake hypervisor driver: the same
 * skeleton and lifecycle as every kind. Its guest has no runc, so it runs no
 * containers here (the vmm e2e tests run them in real VMs).
 */
async function fakeDriverKind(): Promise<LifecycleSubject> {
  const dir = mkdtempSync("/tmp/core-vm-");
  for (const f of ["vmlinuz", "initrd.img"]) writeFileSync(join(dir, f), "");
  const options = { ...defaultHypervisorOptions(), kernelPath: join(dir, "vmlinuz"), initrdPath: join(dir, "initrd.img"), path: process.execPath, virtiofsdPath: writeFakeVirtiofsd(dir), bootTimeoutMs: 20_000, stopTimeoutMs: 5000 };
  const events: TaskEvent[] = [];
  const make = () => {
    const rt = new PodRuntime(fakeRuntimeOptions(dir), silentLogger(), recordingEvents(events), 0);
    const tasks = new PodTasks(rt, (ops) => new VmmRuntime(ops, dir));
    const driver = new FakeHypervisor(defaultHolderBinary);
    return new PodSandboxer("vmm-fake", rt, tasks, new VmHost(rt, tasks.runtime, driver, options, Promise.resolve({ accelerator: "tcg", reason: "fake driver" })));
  };
  const subject: LifecycleSubject = {
    dir,
    events,
    sandboxer: make(),
    restart: () => restartWith(subject, make),
    killSupervisor: (id: string) => void subject.sandboxer.status(id, true).then((s) => killQuietly(Number(s.info["qemu_pid"]))),
    argv: () => undefined,
    exitBehindOurBack: async () => 0,
    dispose: () => shutDownAll(subject.sandboxer, dir),
  };
  return subject;
}

lifecycleSuite("the VM host (vmm) on the fake hypervisor driver", fakeDriverKind, { containers: false });

/** A VM that boots and never answers: its agent socket stays silent, as a guest stuck before its agent. */
class SilentHypervisor implements Hypervisor {
  readonly name = "silent";
  readonly launched: number[] = [];
  private arrive!: () => void;
  readonly booting = new Promise<void>((r) => (this.arrive = r));

  async launch(spec: VmSpec): Promise<number> {
    const child = spawn("sleep", ["1000"], { detached: true, stdio: "ignore" });
    await once(child, "spawn");
    child.unref();
    this.launched.push(child.pid!);
    writeFileSync(spec.controlSocket, String(child.pid));
    this.arrive();
    return child.pid!;
  }

  async control(): Promise<VmControl> {
    throw new RuntimeError(Code.Unavailable, "silent VM: no control channel");
  }
}

describe("the VM host: a boot whose caller gives up", () => {
  it("stops waiting for the agent at the caller's deadline, kills the VM and virtiofsd, and leaves no pod", async (t) => {
    const dir = mkdtempSync("/tmp/core-vm-abort-");
    for (const f of ["vmlinuz", "initrd.img"]) writeFileSync(join(dir, f), "");
    // virtiofsd stand-in that also says who it is (the pod dir goes with the rollback).
    const virtiofsd = join(dir, "fake-virtiofsd");
    writeFileSync(virtiofsd, `#!/bin/sh\nfor a; do case "$a" in --socket-path=*) sock="\${a#--socket-path=}";; esac; done\necho $$ >> ${dir}/virtiofsd.pids\n: > "$sock"\nexec sleep 1000\n`);
    chmodSync(virtiofsd, 0o755);
    const options = { ...defaultHypervisorOptions(), kernelPath: join(dir, "vmlinuz"), initrdPath: join(dir, "initrd.img"), path: process.execPath, virtiofsdPath: virtiofsd, bootTimeoutMs: 600_000, stopTimeoutMs: 5000 };
    const rt = new PodRuntime(fakeRuntimeOptions(dir), silentLogger(), recordingEvents([]), 0);
    const tasks = new PodTasks(rt, (ops) => new VmmRuntime(ops, dir));
    const driver = new SilentHypervisor();
    const sandboxer = new PodSandboxer("vmm-silent", rt, tasks, new VmHost(rt, tasks.runtime, driver, options, Promise.resolve({ accelerator: "tcg", reason: "fake driver" })));
    t.after(async () => {
      for (const pid of driver.launched) killQuietly(pid, "SIGKILL");
      await sandboxer.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await sandboxer.create(podRequest("p1"));
    const caller = new AbortController();
    const started = sandboxer.start("p1", caller.signal);
    await driver.booting;
    caller.abort(new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded"));
    await assert.rejects(started, { code: Code.DeadlineExceeded, message: /context deadline exceeded/ });
    const virtiofsdPids = readFileSync(join(dir, "virtiofsd.pids"), "utf8").trim().split("\n").map(Number);
    for (const pid of [...driver.launched, ...virtiofsdPids]) assert.equal(await waitGone(pid, 5000), true, `pid ${pid} outlived the abandoned boot`);
    assert.equal(sandboxer.has("p1"), false);
    assert.deepEqual(readdirSync(join(dir, "pods")), []);
    assert.deepEqual(readdirSync(join(dir, "sandboxes")), []);
  });
});
