import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { noOutputKeeper, type OutputKeeper } from "../../task/output-keeper.js";
import type { EventPublisher } from "../../task/task-event.js";
import { chooseAccelerator } from "./accelerator-probe.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import { QemuDriver } from "./qemu/qemu-driver.js";
import { VmmSandboxer } from "./vmm-sandboxer.js";
import { VmmTasks } from "./vmm-tasks.js";

/**
 * The vmm sandboxer on QEMU. The accelerator decision (a real KVM boot probe,
 * else TCG) starts at once and is awaited by the first sandbox Start.
 */
export function createVmmSandboxer(
  options: PodRuntimeOptions & { hypervisor: HypervisorOptions },
  log: Logger,
  events: EventPublisher,
  minOomScoreAdj: number,
  outputKeeper: OutputKeeper = noOutputKeeper,
): VmmSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const driver = new QemuDriver(options.hypervisor.path, options.hypervisor.machineType);
  const accelerator = chooseAccelerator(driver, options.hypervisor, options.dir, log);
  return new VmmSandboxer(rt, new VmmTasks(rt, options.dir, outputKeeper), driver, options.hypervisor, accelerator);
}
