import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { noOutputKeeper, type OutputKeeper } from "../../task/output-keeper.js";
import type { EventPublisher } from "../../task/task-event.js";
import { chooseAccelerator } from "./accelerator-probe.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import { QemuDriver } from "./qemu/qemu-driver.js";
import { VmHost } from "./vm-host.js";
import { VmTemplates } from "./vm-templates.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { VmmRuntime } from "./vmm-runtime.js";

/**
 * The vmm sandboxer on QEMU: each pod a micro-VM whose guest agent (our holder,
 * pid 1 in the guest) runs the pod's containers with runc; the Sandbox API and
 * the Task API stay on the host. The accelerator decision (a real KVM boot
 * probe, else TCG) starts at once and is awaited by the first sandbox Start.
 */
export function createVmmSandboxer(
  options: PodRuntimeOptions & { hypervisor: HypervisorOptions },
  log: Logger,
  events: EventPublisher,
  minOomScoreAdj: number,
  outputKeeper: OutputKeeper = noOutputKeeper,
): PodSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const driver = new QemuDriver(options.hypervisor.path, options.hypervisor.machineType);
  const accelerator = chooseAccelerator(driver, options.hypervisor, options.dir, log);
  const tasks = new PodTasks(rt, (ops) => new VmmRuntime(ops, options.dir, outputKeeper));
  const templates = options.hypervisor.template ? new VmTemplates(driver, options.hypervisor, options.dir, log) : undefined;
  return new PodSandboxer("vmm", rt, tasks, new VmHost(rt, tasks.runtime, driver, options.hypervisor, accelerator, templates));
}
