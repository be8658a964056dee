import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultHolderBinary } from "../../../src/holder/start-holder.js";
import { silentLogger } from "../../../src/log/logger.js";
import { killQuietly } from "../../../src/pod/pod.js";
import { PodRuntime } from "../../../src/pod/pod-runtime.js";
import { PodSandboxer } from "../../../src/pod/pod-sandboxer.js";
import { PodTasks } from "../../../src/pod/pod-tasks.js";
import { defaultHypervisorOptions } from "../../../src/sandboxers/vmm/hypervisor-options.js";
import { VmHost } from "../../../src/sandboxers/vmm/vm-host.js";
import { VmmRuntime } from "../../../src/sandboxers/vmm/vmm-runtime.js";
import type { TaskEvent } from "../../../src/task/task-event.js";
import { fakeRuntimeOptions, recordingEvents } from "../../pod/fakes/fake-kind.js";
import { lifecycleSuite, restartWith, shutDownAll, type LifecycleSubject } from "../../pod/lifecycle-suite.js";
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
