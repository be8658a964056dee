import { execFile } from "node:child_process";
import { accessSync, constants, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { shortSocketPath } from "../../fs/long-socket-path.js";
import type { Logger } from "../../log/logger.js";
import { killQuietly, waitGone } from "../../pod/pod.js";
import type { Accelerator } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import type { QemuDriver } from "./qemu/qemu-driver.js";
import { saveDeviceState } from "./qemu/qemu-snapshot.js";
import { QmpClient } from "./qemu/qmp-client.js";
import { guestCommandStatus } from "./guest-command.js";
import { connectAgent, kernelCmdline } from "./vm-boot.js";
import { BUILD_VM_PID, type TemplateBuilder } from "./template/template-store.js";
import type { TemplateShape } from "./template/template-shape.js";
import type { TemplateShare } from "./template/template-store.js";

const run = promisify(execFile);

/** Slots a template keeps free: the share (0) and the NIC (1) of each VM restored from it. */
export const TEMPLATE_HOTPLUG_SLOTS = 2;
export const SHARE_SLOT = 0;
export const NIC_SLOT = 1;

function emptyDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}

const readable = (path: string): boolean => {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
};

/** The guest templates boot: the template kernel and initrd (with 9p) when both are there, else the pods' own. */
export function templateGuest(o: HypervisorOptions): { kernelPath: string; initrdPath: string } {
  return hasTemplateGuest(o) ? { kernelPath: o.templateKernelPath, initrdPath: o.templateInitrdPath } : { kernelPath: o.kernelPath, initrdPath: o.initrdPath };
}

function hasTemplateGuest(o: HypervisorOptions): boolean {
  return readable(o.templateKernelPath) && readable(o.templateInitrdPath);
}

/** The template shape pods of this size get under these options (the kernel line says the share comes later). */
export function templateShape(o: HypervisorOptions, accelerator: Accelerator, size: { vcpus: number; memoryMb: number }): TemplateShape {
  return {
    qemuPath: o.path,
    machineType: o.machineType,
    accelerator,
    vcpus: size.vcpus,
    memoryMb: size.memoryMb,
    ...templateGuest(o),
    // init_on_free: pages the guest frees (the initramfs it unpacked and left, boot-time data)
    // are zeros, which the sparse copies of the template's RAM leave out (about 40% less per pod).
    kernelCmdline: `${kernelCmdline(o)} kuasar.share=later init_on_free=1`,
    hotplugSlots: TEMPLATE_HOTPLUG_SLOTS,
    coldShare9p: hasTemplateGuest(o),
  };
}

/**
 * Builds a template: boots the guest with its RAM in a shared file and without share or NIC
 * (they are added per VM after a restore), waits for the agent, asks the guest whether it has
 * 9p (the share its restored VMs get), leaves the port so that each restored VM's host
 * connects afresh, pauses and saves the device state.
 */
export function templateBuilder(qemu: QemuDriver, shape: TemplateShape, timeoutMs: number, log: Logger): TemplateBuilder {
  return async (out) => {
    const agentSocket = shortSocketPath(join(out.dir, "agent.sock"));
    const controlSocket = shortSocketPath(join(out.dir, "qmp.sock"));
    for (const s of [agentSocket, controlSocket]) mkdirSync(dirname(s), { recursive: true, mode: 0o700 });
    let pid = 0;
    try {
      pid = await qemu.launch({
        id: "template",
        accelerator: shape.accelerator,
        vcpus: shape.vcpus,
        memoryMb: shape.memoryMb,
        kernelPath: shape.kernelPath,
        initrdPath: shape.initrdPath,
        kernelCmdline: shape.kernelCmdline,
        agentSocket,
        controlSocket,
        shareSocket: undefined,
        consoleLog: join(out.dir, "console.log"),
        vmmLog: join(out.dir, "qemu.log"),
        nic: undefined,
        netnsPath: undefined,
        cgroups: [],
        memory: { file: out.memoryFile, shared: true },
        hotplugSlots: shape.hotplugSlots,
        // An empty directory: the device is what the template keeps, each restored VM brings its backend.
        ...(shape.coldShare9p ? { share9pPath: emptyDir(join(out.dir, "share")), share9pSlot: SHARE_SLOT } : {}),
      });
      writeFileSync(join(out.dir, BUILD_VM_PID), String(pid));
      const started = Date.now();
      const agent = await connectAgent(agentSocket, pid, started + timeoutMs);
      let share: TemplateShare;
      try {
        // guest/init loaded the 9p modules if its initrd has them: the filesystem is registered.
        share = (await guestCommandStatus(agent, "template:9p", ["/bin/sh", "-c", "grep -qw 9p /proc/filesystems"], started + timeoutMs)) === 0 ? "virtio-9p" : "virtio-fs";
        // Its 9p device holds the slot a virtio-fs share would be plugged into.
        if (shape.coldShare9p && share !== "virtio-9p") throw new Error(`the template guest ${shape.kernelPath} has no 9p`);
      } finally {
        await agent.close();
      }
      const qmp = await QmpClient.connect(controlSocket);
      try {
        await saveDeviceState(qmp, out.stateFile, timeoutMs);
        await qmp.quit();
      } finally {
        qmp.close();
      }
      // The guest zeroed its free pages at boot: keep only the pages holding data.
      await run("cp", ["--sparse=always", out.memoryFile, `${out.memoryFile}.sparse`]);
      renameSync(`${out.memoryFile}.sparse`, out.memoryFile);
      log.info({ accelerator: shape.accelerator, boot_ms: Date.now() - started, share, kernel: shape.kernelPath }, "VM template booted and saved");
      return { share };
    } finally {
      if (pid > 0 && !(await waitGone(pid, 5000))) {
        killQuietly(pid);
        await waitGone(pid, 5000);
      }
      for (const s of [agentSocket, controlSocket]) rmSync(s, { force: true });
    }
  };
}
