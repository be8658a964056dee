import type { Hypervisor, VmControl, VmSpec } from "../driver/hypervisor.js";
import { spawnDetached } from "../driver/spawn-detached.js";
import { execInCgroups } from "../../../cgroup/exec-in-cgroups.js";
import { qemuArgv } from "./qemu-argv.js";
import { QmpClient } from "./qmp-client.js";

/** QEMU as the vmm sandboxer's hypervisor: a detached process per VM, controlled over QMP. */
export class QemuDriver implements Hypervisor {
  readonly name = "qemu";

  constructor(
    private readonly binary: string,
    private readonly machineType: string,
  ) {}

  async launch(spec: VmSpec): Promise<number> {
    const argv = qemuArgv(this.binary, this.machineType, spec);
    // The tap device lives in the pod's network namespace: QEMU opens it from there.
    const cmd = spec.netnsPath ? ["nsenter", `--net=${spec.netnsPath}`, "--", ...argv] : argv;
    return (await spawnDetached(execInCgroups(spec.cgroups, cmd), spec.vmmLog)).pid;
  }

  control(spec: Pick<VmSpec, "controlSocket">): Promise<VmControl> {
    return QmpClient.connect(spec.controlSocket);
  }
}
