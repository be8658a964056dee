import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { HolderClient } from "../../holder/holder-client.js";
import type { HolderExit } from "../../holder/holder-protocol.js";
import type { Logger } from "../../log/logger.js";
import { killQuietly } from "../../pod/pod.js";
import { hotplugSlotId, SHARE_TAG } from "./driver/hypervisor.js";
import { GUEST_SHARED } from "./guest-paths.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import type { QemuDriver } from "./qemu/qemu-driver.js";
import { loadDeviceState, plugNic, plugShare } from "./qemu/qemu-snapshot.js";
import { QmpClient } from "./qemu/qmp-client.js";
import { startVirtiofsd } from "./virtiofsd.js";
import { connectAgent, type BootedVm, type BootRequest } from "./vm-boot.js";
import { NIC_SLOT, SHARE_SLOT } from "./template-builder.js";
import type { Template } from "./template/template-store.js";

const run = promisify(execFile);

/** Bytes of host randomness a restored guest's RNG is credited with. */
const SEED_BYTES = 64;

/**
 * Starts a pod VM from a template instead of booting it. The VM maps its own sparse copy of
 * the template's RAM, shared: virtio-fs (vhost-user) needs guest RAM its daemon can map, so
 * a private copy-on-write mapping of the template file (which would share unchanged pages
 * between VMs) cannot carry the pod's share; see docs/adr/0009-vm-templates.md. Then: device state
 * loaded, share and NIC hot-plugged, the share mounted, and the agent given the VM's own clock,
 * entropy and directory. On failure, kills what it started and says why.
 */
export async function restoreVm(qemu: QemuDriver, o: HypervisorOptions, t: Template, b: BootRequest, log: Logger, onPids: (qemuPid: number, virtiofsdPid: number) => void): Promise<BootedVm> {
  const p = b.paths;
  const started = Date.now();
  const deadline = started + b.timeoutMs;
  mkdirSync(join(p.shared, "agent"), { recursive: true, mode: 0o700 });
  mkdirSync(join(p.agentSocket, ".."), { recursive: true, mode: 0o700 });
  for (const s of [p.agentSocket, p.qmpSocket, p.fsSocket]) rmSync(s, { force: true });
  let virtiofsdPid = 0;
  let qemuPid = 0;
  let qmp: QmpClient | undefined;
  let agent: HolderClient | undefined;
  try {
    // Holes stay holes: only the pages the template's guest touched are copied.
    await run("cp", ["--sparse=always", t.memoryFile, p.memory]);
    virtiofsdPid = await startVirtiofsd({ binary: o.virtiofsdPath, source: p.shared, socket: p.fsSocket, log: p.virtiofsdLog, debug: o.debug, cgroups: b.cgroups });
    const id = t.identity;
    qemuPid = await qemu.launch({
      id: b.id,
      accelerator: id.accelerator,
      vcpus: id.vcpus,
      memoryMb: id.memoryMb,
      kernelPath: o.kernelPath,
      initrdPath: o.initrdPath,
      kernelCmdline: id.kernelCmdline,
      agentSocket: p.agentSocket,
      controlSocket: p.qmpSocket,
      shareSocket: undefined,
      consoleLog: p.consoleLog,
      vmmLog: p.qemuLog,
      nic: undefined,
      netnsPath: b.netnsPath,
      cgroups: b.cgroups,
      memory: { file: p.memory, shared: true },
      incoming: true,
      hotplugSlots: id.hotplugSlots,
    });
    onPids(qemuPid, virtiofsdPid);
    qmp = await connectQmp(p.qmpSocket, deadline);
    await loadDeviceState(qmp, t.stateFile, Math.max(1000, deadline - Date.now()));
    await plugShare(qmp, p.fsSocket, hotplugSlotId(SHARE_SLOT));
    if (b.nic) await plugNic(qmp, b.nic.tap, b.nic.mac, hotplugSlotId(NIC_SLOT));
    // QEMU serves one QMP client at a time: the sandboxer's own control connection comes next.
    qmp.close();
    qmp = undefined;
    agent = await connectAgent(p.agentSocket, qemuPid, deadline);
    // The guest takes a moment to see the hot-plugged device: mount as soon as it has.
    const mount = `mount -t virtiofs ${SHARE_TAG} ${GUEST_SHARED}`;
    await runToExit(agent, "restore:mount", ["/bin/sh", "-c", `i=0; until ${mount} 2>/dev/null; do i=$((i+1)); [ $i -lt 400 ] || exec ${mount}; usleep 25000; done`], deadline);
    await agent.restored(new Date(), randomBytes(SEED_BYTES), `${GUEST_SHARED}/agent`, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    log.info({ qemu_pid: qemuPid, accelerator: id.accelerator, template: t.key, restore_ms: Date.now() - started }, "guest agent answered (restored from a template)");
    return { qemuPid, virtiofsdPid, agent };
  } catch (err) {
    qmp?.close();
    await agent?.close().catch(() => {});
    for (const pid of [qemuPid, virtiofsdPid]) killQuietly(pid);
    rmSync(p.memory, { force: true });
    const e = RuntimeError.from(err);
    throw new RuntimeError(e.code, `restoring from VM template ${t.key}: ${e.message}`, { cause: err });
  }
}

async function connectQmp(socket: string, deadline: number): Promise<QmpClient> {
  for (;;) {
    try {
      return await QmpClient.connect(socket, 2000);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Runs a command in the guest and waits for its exit (reported by the agent: the share is not there yet). */
async function runToExit(agent: HolderClient, id: string, argv: string[], deadline: number): Promise<void> {
  const exits = new Map<number, HolderExit>();
  const heard = (e: HolderExit) => exits.set(e.pid, e);
  agent.on("exit", heard);
  try {
    const pid = await agent.spawn({ id, argv, env: ["PATH=/sbin:/bin"], cwd: "/" });
    while (!exits.has(pid)) {
      if (Date.now() > deadline) throw new RuntimeError(Code.DeadlineExceeded, `${argv.join(" ")} in the guest did not finish`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const status = exits.get(pid)!.status;
    if (status !== 0) throw new RuntimeError(Code.Internal, `${argv.join(" ")} in the guest exited ${status}`);
  } finally {
    agent.off("exit", heard);
  }
}
