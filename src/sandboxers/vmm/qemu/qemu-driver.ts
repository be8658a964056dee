import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { Code } from "../../../errors/code.js";
import { RuntimeError } from "../../../errors/runtime-error.js";
import type { Hypervisor, VmControl, VmSpec } from "../hypervisor.js";
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
    const log = openSync(spec.vmmLog, "a", 0o600);
    try {
      const child = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ["ignore", log, log] });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once("spawn", () => resolve(child.pid!));
        child.once("error", (err) => reject(new RuntimeError(Code.FailedPrecondition, `starting ${cmd[0]}: ${err.message}`, { cause: err })));
      });
      child.unref();
      return pid;
    } finally {
      closeSync(log);
    }
  }

  control(spec: Pick<VmSpec, "controlSocket">): Promise<VmControl> {
    return QmpClient.connect(spec.controlSocket);
  }
}
