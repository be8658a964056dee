import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../../../errors/code.js";
import { RuntimeError } from "../../../errors/runtime-error.js";
import { SHARE_FSDEV, SHARE_TAG } from "../driver/hypervisor.js";
import type { QmpClient } from "./qmp-client.js";

/**
 * Device state of a VM whose RAM lives in a shared file, saved and loaded over QMP
 * (QEMU migration to and from a file). `x-ignore-shared` leaves file-backed shared RAM
 * out of the stream: the state file holds only the devices (a few hundred KB) and a
 * restored VM maps the RAM file itself. QEMU 7.2 has no `file:` migration URI: `exec:`
 * with cat writes and reads it.
 */
export async function saveDeviceState(qmp: QmpClient, stateFile: string, timeoutMs: number): Promise<void> {
  await qmp.execute("stop");
  await qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "x-ignore-shared", state: true }] });
  await qmp.execute("migrate", { uri: `exec:cat > ${shellWord(stateFile)}` });
  await migrationDone(qmp, timeoutMs);
}

/** Loads a saved device state into a VM started with `-incoming defer` and the template's RAM file, and runs it. */
export async function loadDeviceState(qmp: QmpClient, stateFile: string, timeoutMs: number): Promise<void> {
  await qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "x-ignore-shared", state: true }] });
  await qmp.execute("migrate-incoming", { uri: `exec:cat ${shellWord(stateFile)}` });
  const until = Date.now() + timeoutMs;
  // The template was saved paused: the loaded VM stays paused until `cont`.
  for (;;) {
    const st = await qmp.status();
    if (st === "paused" || st === "running") break;
    if (st !== "inmigrate") throw new RuntimeError(Code.Internal, `loading the VM state: QEMU status ${st}`);
    if (Date.now() > until) throw new RuntimeError(Code.DeadlineExceeded, `loading the VM state took over ${timeoutMs} ms`);
    await sleep(5);
  }
  const m = (await qmp.execute("query-migrate")) as { status?: string };
  if (m.status === "failed") throw new RuntimeError(Code.Internal, "loading the VM state failed (see the QEMU log)");
  await qmp.execute("cont");
}

/** Hot-plugs the pod's virtio-fs share (its virtiofsd listening on `socket`) into slot `bus`. */
export async function plugShare(qmp: QmpClient, socket: string, bus: string): Promise<void> {
  await qmp.execute("chardev-add", { id: "fs0", backend: { type: "socket", data: { addr: { type: "unix", data: { path: socket } }, server: false } } });
  await qmp.execute("device_add", { driver: "vhost-user-fs-pci", id: "share0", chardev: "fs0", tag: SHARE_TAG, bus });
}

/** Hot-plugs the pod's share served by QEMU over 9p (its fsdev on the command line, see `VmSpec.share9pPath`) into slot `bus`. */
export async function plugShare9p(qmp: QmpClient, bus: string): Promise<void> {
  await qmp.execute("device_add", { driver: "virtio-9p-pci", id: "share0", fsdev: SHARE_FSDEV, mount_tag: SHARE_TAG, bus });
}

/** Hot-plugs a virtio NIC on tap `tap` (in QEMU's network namespace) with the pod's MAC into slot `bus`. */
export async function plugNic(qmp: QmpClient, tap: string, mac: string, bus: string): Promise<void> {
  await qmp.execute("netdev_add", { type: "tap", id: "net0", ifname: tap, script: "no", downscript: "no" });
  await qmp.execute("device_add", { driver: "virtio-net-pci", id: "nic0", netdev: "net0", mac, bus });
}

async function migrationDone(qmp: QmpClient, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = (await qmp.execute("query-migrate")) as { status?: string; "error-desc"?: string };
    if (m.status === "completed") return;
    if (m.status === "failed" || m.status === "cancelled") throw new RuntimeError(Code.Internal, `saving the VM state: ${m.status}${m["error-desc"] ? `: ${m["error-desc"]}` : ""}`);
    if (Date.now() > until) throw new RuntimeError(Code.DeadlineExceeded, `saving the VM state took over ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Quotes a path for the `sh -c` QEMU runs an `exec:` URI with. */
function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
