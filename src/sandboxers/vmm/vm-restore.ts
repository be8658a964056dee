import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "../../errors/code.js";
import { isErrorCode, RuntimeError } from "../../errors/runtime-error.js";
import type { HolderClient } from "../../holder/holder-client.js";
import type { Logger } from "../../log/logger.js";
import { killQuietly } from "../../pod/pod.js";
import { hotplugSlotId, SHARE_TAG } from "./driver/hypervisor.js";
import { GUEST_SHARED } from "./guest-paths.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import type { QemuDriver } from "./qemu/qemu-driver.js";
import { runInGuest } from "./guest-command.js";
import { loadDeviceState, plugNic, plugShare, plugShare9p } from "./qemu/qemu-snapshot.js";
import { QmpClient } from "./qemu/qmp-client.js";
import { startVirtiofsd } from "./virtiofsd.js";
import { connectAgent, type BootedVm, type BootRequest } from "./vm-boot.js";
import { NIC_SLOT, SHARE_SLOT, templateGuest } from "./template-builder.js";
import type { Template } from "./template/template-store.js";

const run = promisify(execFile);

/** 9p message size of the share (bytes): large reads and writes in few round trips through QEMU. */
const NINEP_MSIZE = 512 * 1024;

/** Bytes of host randomness a restored guest's RNG is credited with. */
const SEED_BYTES = 64;

/**
 * Starts a pod VM from a template instead of booting it. With a 9p template (its guest has
 * 9p) the VM maps the template's RAM file privately, copy-on-write: pages it never writes stay
 * shared with every VM of that template, and QEMU itself serves the pod's share over 9p from
 * that RAM. Otherwise it maps its own sparse copy of the RAM, shared, because virtio-fs's
 * daemon maps guest RAM from the file and would not see private copies; see
 * docs/adr/0009-vm-templates.md. Then: device state loaded, share and NIC hot-plugged, the
 * share mounted, and the agent given the VM's own clock, entropy and directory. On failure,
 * kills what it started and says why.
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
  // Milliseconds since `started` at the end of each step: where a restore's time goes.
  const phases: Record<string, number> = {};
  const mark = (phase: string) => (phases[phase] = Date.now() - started);
  try {
    const ninep = t.share === "virtio-9p";
    if (!ninep) {
      // Holes stay holes: only the pages the template's guest touched are copied.
      await run("cp", ["--sparse=always", t.memoryFile, p.memory]);
      virtiofsdPid = await startVirtiofsd({ binary: o.virtiofsdPath, source: p.shared, socket: p.fsSocket, log: p.virtiofsdLog, debug: o.debug, cgroups: b.cgroups });
    }
    const id = t.identity;
    qemuPid = await qemu.launch({
      id: b.id,
      accelerator: id.accelerator,
      vcpus: id.vcpus,
      memoryMb: id.memoryMb,
      // The files whose digests are in the template's key (its shape, see template-builder.ts).
      ...templateGuest(o),
      kernelCmdline: id.kernelCmdline,
      agentSocket: p.agentSocket,
      controlSocket: p.qmpSocket,
      shareSocket: undefined,
      ...(ninep ? { share9pPath: p.shared, ...(id.coldShare9p ? { share9pSlot: SHARE_SLOT } : {}) } : {}),
      consoleLog: p.consoleLog,
      vmmLog: p.qemuLog,
      nic: undefined,
      netnsPath: b.netnsPath,
      cgroups: b.cgroups,
      memory: ninep ? { file: t.memoryFile, shared: false } : { file: p.memory, shared: true },
      incoming: true,
      hotplugSlots: id.hotplugSlots,
    });
    onPids(qemuPid, virtiofsdPid);
    mark("spawn_ms");
    // The host's network wiring runs while QEMU starts (on a core of its own): the NIC is plugged after the state is loaded.
    const nicPending = b.nic ? Promise.resolve(b.nic) : b.nicLater?.();
    nicPending?.catch(() => {}); // awaited at the plug, or the restore failed before it
    qmp = await connectQmp(p.qmpSocket, deadline);
    mark("qmp_ms");
    await loadDeviceState(qmp, t.stateFile, Math.max(1000, deadline - Date.now()));
    mark("state_loaded_ms");
    if (!ninep) await plugShare(qmp, p.fsSocket, hotplugSlotId(SHARE_SLOT));
    else if (!id.coldShare9p) await plugShare9p(qmp, hotplugSlotId(SHARE_SLOT));
    const nic = await nicPending;
    if (nic) await plugNic(qmp, nic.tap, nic.mac, hotplugSlotId(NIC_SLOT));
    // QEMU serves one QMP client at a time: the sandboxer's own control connection comes next.
    qmp.close();
    qmp = undefined;
    mark("plugged_ms");
    agent = await connectAgent(p.agentSocket, qemuPid, deadline);
    mark("agent_ms");
    await mountShare(agent, ninep, deadline);
    mark("mounted_ms");
    await agent.restored(new Date(), randomBytes(SEED_BYTES), `${GUEST_SHARED}/agent`, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    log.info({ qemu_pid: qemuPid, accelerator: id.accelerator, template: t.key, share: t.share, restore_ms: Date.now() - started, ...phases }, "guest agent answered (restored from a template)");
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

/** Attempts at mounting the share, 25 ms apart: the guest takes a moment to see a hot-plugged device. */
const MOUNT_ATTEMPTS = 400;

/**
 * Mounts the pod's share in the restored guest by the agent's own mount(2) (its `mount` verb),
 * as soon as the guest sees the device. Under TCG a restored guest translates every program it
 * runs for the first time: a shell and mount(8) per attempt were most of this step. An agent
 * older than the verb gets the shell loop.
 */
async function mountShare(agent: HolderClient, ninep: boolean, deadline: number): Promise<void> {
  const call = { source: SHARE_TAG, target: GUEST_SHARED, fstype: ninep ? "9p" : "virtiofs", flags: 0, data: ninep ? `trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE}` : "", cwd: "" };
  for (let attempt = 1; ; attempt++) {
    try {
      await agent.mount(call, { timeoutMs: Math.max(1000, deadline - Date.now()) });
      return;
    } catch (err) {
      if (isErrorCode(err, Code.Unimplemented)) break;
      if (attempt >= MOUNT_ATTEMPTS || Date.now() > deadline) {
        const e = RuntimeError.from(err);
        throw new RuntimeError(e.code, `mounting the pod's share (${call.fstype} ${SHARE_TAG}) in the guest: ${e.message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const mount = ninep ? `mount -t 9p -o ${call.data} ${SHARE_TAG} ${GUEST_SHARED}` : `mount -t virtiofs ${SHARE_TAG} ${GUEST_SHARED}`;
  await runInGuest(agent, "restore:mount", ["/bin/sh", "-c", `i=0; until ${mount} 2>/dev/null; do i=$((i+1)); [ $i -lt ${MOUNT_ATTEMPTS} ] || exec ${mount}; usleep 25000; done`], deadline);
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
