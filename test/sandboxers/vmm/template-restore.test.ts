import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import type { HolderClient } from "../../../src/holder/holder-client.js";
import { silentLogger } from "../../../src/log/logger.js";
import { isAlive, killQuietly, waitGone } from "../../../src/pod/pod.js";
import { hotplugSlotId, type GuestMemory, type VmSpec } from "../../../src/sandboxers/vmm/driver/hypervisor.js";
import { vmPaths, type VmPaths } from "../../../src/sandboxers/vmm/guest-paths.js";
import { defaultHypervisorOptions } from "../../../src/sandboxers/vmm/hypervisor-options.js";
import { QemuDriver } from "../../../src/sandboxers/vmm/qemu/qemu-driver.js";
import { loadDeviceState, plugNic, plugShare, saveDeviceState } from "../../../src/sandboxers/vmm/qemu/qemu-snapshot.js";
import { QmpClient } from "../../../src/sandboxers/vmm/qemu/qmp-client.js";
import { startVirtiofsd } from "../../../src/sandboxers/vmm/virtiofsd.js";
import { templateBuilder, templateShape } from "../../../src/sandboxers/vmm/template-builder.js";
import { templateIdentity } from "../../../src/sandboxers/vmm/template/template-shape.js";
import { TemplateStore } from "../../../src/sandboxers/vmm/template/template-store.js";
import { restoreVm } from "../../../src/sandboxers/vmm/vm-restore.js";
import { bootVm, connectAgent } from "../../../src/sandboxers/vmm/vm-boot.js";
import { assertIsolated } from "../../../testing/isolation.js";
import { takeCensus, censusDiff } from "../../../testing/leak-census.js";

assertIsolated();

/** These VMs run in no cgroup of their own: processes, mounts and what is left under /run/kuasar are what can leak. */
const scope = { dirs: ["/run/kuasar"], cgroupRoots: [] };

const MEMORY_MB = 256;
const BOOT_TIMEOUT_MS = 180_000;
const options = defaultHypervisorOptions();
const qemu = new QemuDriver(options.path, options.machineType);
const log = silentLogger();
const base = "console=ttyS0 panic=-1 reboot=t quiet kuasar.debug=0";

interface Vm {
  name: string;
  paths: VmPaths;
  pids: number[];
  agent?: HolderClient;
  qmp?: QmpClient;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** QEMU's proportional set size in MB: its private pages plus its share of pages mapped by others too. */
function pssMb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

async function connectQmp(socket: string, pid: number): Promise<QmpClient> {
  for (let tries = 0; ; tries++) {
    // The socket file appears a moment before QEMU listens on it.
    if (existsSync(socket)) {
      try {
        return await QmpClient.connect(socket);
      } catch (err) {
        if (tries > 1000) throw err;
      }
    }
    if (!isAlive(pid)) throw new Error("QEMU exited before serving QMP");
    await sleep(5);
  }
}

/**
 * Runs a shell script in the guest through its agent with output on the serial console
 * (which works with or without a share), and returns its lines.
 */
async function guestSh(vm: Vm, key: string, script: string, timeoutMs = 60_000): Promise<string[]> {
  const tag = `@@${key}@@`;
  await vm.agent!.spawn({ id: `t:${key}`, cwd: "/", stdout: "/dev/console", stderr: "/dev/console", argv: ["/bin/sh", "-c", `(${script}) 2>&1 | while read -r l; do echo "${tag}$l"; done; echo "${tag}END"`], env: ["PATH=/sbin:/bin"] });
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const lines = readFileSync(vm.paths.consoleLog, "utf8").split(/\r?\n/).filter((l) => l.startsWith(tag)).map((l) => l.slice(tag.length));
    if (lines.at(-1) === "END") return lines.slice(0, -1);
    await sleep(50);
  }
  throw new Error(`guest script ${key} on ${vm.name} gave no end marker within ${timeoutMs} ms`);
}

describe("VM template: boot once, restore many (real QEMU, the built guest)", () => {
  it("saves a booted guest's device state over file-backed RAM and restores it into new QEMUs whose agents answer; share and NIC hot-plugged; measured against cold boots", async (t) => {
    const before = takeCensus(scope);
    const dir = mkdtempSync("/run/kuasar/tmpl-");
    const vms: Vm[] = [];
    const paths = (name: string) => {
      const podDir = join(dir, name);
      mkdirSync(podDir, { recursive: true });
      const p = vmPaths(dir, podDir, name);
      mkdirSync(join(p.agentSocket, ".."), { recursive: true });
      mkdirSync(p.shared, { recursive: true });
      return p;
    };
    const spec = (name: string, p: VmPaths, memory: GuestMemory | undefined, incoming: boolean, cmdline: string): VmSpec => ({
      id: name, accelerator: "tcg", vcpus: 1, memoryMb: MEMORY_MB, kernelPath: options.kernelPath, initrdPath: options.initrdPath,
      kernelCmdline: cmdline, agentSocket: p.agentSocket, controlSocket: p.qmpSocket, shareSocket: undefined,
      consoleLog: p.consoleLog, vmmLog: p.qemuLog, nic: undefined, netnsPath: undefined, cgroups: [],
      ...(memory ? { memory } : {}), incoming, hotplugSlots: 2,
    });
    const stop = async (vm: Vm) => {
      await vm.agent?.close().catch(() => {});
      vm.qmp?.close();
      for (const pid of vm.pids) killQuietly(pid);
      for (const pid of vm.pids) await waitGone(pid, 5000);
      vm.pids = [];
    };
    try {
      // 1. The template: booted without share or NIC (not migratable), RAM in a shared file, paused, device state saved.
      const memFile = join(dir, "template.mem");
      const stateFile = join(dir, "template.state");
      const tp = paths("template");
      const tmpl: Vm = { name: "template", paths: tp, pids: [] };
      vms.push(tmpl);
      const tStarted = Date.now();
      tmpl.pids.push(await qemu.launch(spec("template", tp, { file: memFile, shared: true }, false, `${base} kuasar.share=later`)));
      tmpl.agent = await connectAgent(tp.agentSocket, tmpl.pids[0]!, Date.now() + BOOT_TIMEOUT_MS);
      const templateBootMs = Date.now() - tStarted;
      // No host on the port while saved: each restored VM's host connects afresh.
      await tmpl.agent.close();
      tmpl.agent = undefined;
      tmpl.qmp = await connectQmp(tp.qmpSocket, tmpl.pids[0]!);
      await saveDeviceState(tmpl.qmp, stateFile, 60_000);
      await stop(tmpl);
      const savedAt = Date.now();
      await sleep(3000); // so that a clock the guest did not update shows
      const memTouchedMb = (statSync(memFile).blocks * 512) / 2 ** 20;
      const stateKb = statSync(stateFile).size / 1024;
      t.diagnostic(`template: booted in ${templateBootMs} ms; RAM file ${MEMORY_MB} MB with ${memTouchedMb.toFixed(1)} MB touched; device state ${stateKb.toFixed(0)} KB`);
      assert.ok(stateKb < 4096, "x-ignore-shared keeps guest RAM out of the state file");

      // 2. Five VMs restored from it, RAM mapped privately (copy-on-write) from the template's file.
      const restoreMs: number[] = [];
      const restored: Vm[] = [];
      for (let i = 0; i < 5; i++) {
        const name = `restored-${i}`;
        const p = paths(name);
        const vm: Vm = { name, paths: p, pids: [] };
        vms.push(vm);
        restored.push(vm);
        const started = Date.now();
        vm.pids.push(await qemu.launch(spec(name, p, { file: memFile, shared: false }, true, base)));
        vm.qmp = await connectQmp(p.qmpSocket, vm.pids[0]!);
        await loadDeviceState(vm.qmp, stateFile, 60_000);
        vm.agent = await connectAgent(p.agentSocket, vm.pids[0]!, Date.now() + 60_000);
        restoreMs.push(Date.now() - started);
      }
      // What a restored guest inherits from the template: its boot_id (if read before) and its clock.
      const facts: { bootId: string; skewS: number; sinceSaveS: number }[] = [];
      for (const vm of restored.slice(0, 3)) {
        const [bootId = "", guestNow = "0"] = await guestSh(vm, "facts", "cat /proc/sys/kernel/random/boot_id; date +%s");
        facts.push({ bootId, skewS: Math.round(Date.now() / 1000 - Number(guestNow)), sinceSaveS: Math.round((Date.now() - savedAt) / 1000) });
      }
      t.diagnostic(`restored guests: boot_id ${facts.map((f) => f.bootId).join(" ")}; guest clock behind the host by ${facts.map((f) => `${f.skewS} s (${f.sinceSaveS} s after the save)`).join(", ")}`);
      for (const vm of restored.slice(3)) await stop(vm);
      const restoredPss = restored.slice(0, 3).map((vm) => pssMb(vm.pids[0]!));

      // 3. A share on a private-RAM VM: virtiofsd maps the RAM *file*, the guest writes its private copies.
      const probe = restored[0]!;
      mkdirSync(probe.paths.shared, { recursive: true });
      writeFileSync(join(probe.paths.shared, "from-host"), "x");
      probe.pids.push(await startVirtiofsd({ binary: options.virtiofsdPath, source: probe.paths.shared, socket: probe.paths.fsSocket, log: probe.paths.virtiofsdLog, debug: false, cgroups: [] }));
      await plugShare(probe.qmp!, probe.paths.fsSocket, hotplugSlotId(0));
      const privShare = await guestSh(probe, "privshare", "sleep 1; timeout 10 mount -t virtiofs kuasar /run/kuasar/shared && ls /run/kuasar/shared; echo rc=$?", 30_000).catch((e: Error) => [e.message]);
      t.diagnostic(`virtio-fs on a private-RAM (copy-on-write) restored VM: ${privShare.join(" | ")}`);
      assert.ok(!privShare.includes("from-host"), "virtio-fs cannot work over private guest RAM (vhost-user maps the file, not the guest's copies)");
      for (const vm of restored) await stop(vm);

      // 4. Pods' way (template/): the store builds the template; each VM restores onto a private mapping of its RAM with
      // a 9p share (or, without 9p in the template guest, from its own sparse copy mapped shared, with virtio-fs),
      // gets its share and NIC hot-plugged, its clock, entropy and journal.
      const store = new TemplateStore(join(dir, "templates"), log);
      const shape = templateShape(options, "tcg", { vcpus: 1, memoryMb: MEMORY_MB });
      const identity = templateIdentity(shape);
      const template = await store.obtain(identity, templateBuilder(qemu, shape, BOOT_TIMEOUT_MS, log));
      assert.equal(store.find(identity)?.key, template.key, "found again, whole");
      await sleep(3000); // a clock the guest did not update would show
      const copyMs: number[] = [];
      const copies: Vm[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `copy-${i}`;
        const p = paths(name);
        const vm: Vm = { name, paths: p, pids: [] };
        vms.push(vm);
        copies.push(vm);
        const tap = `tmpl${i}`;
        execFileSync("ip", ["tuntap", "add", tap, "mode", "tap"]);
        execFileSync("ip", ["addr", "add", `10.99.${i}.1/24`, "dev", tap]);
        execFileSync("ip", ["link", "set", tap, "up"]);
        const mac = `02:00:00:99:00:0${i}`;
        const started = Date.now();
        const r = await restoreVm(qemu, options, template, { id: name, paths: p, accelerator: "tcg", vcpus: 1, memoryMb: MEMORY_MB, nic: { tap, mac }, netnsPath: undefined, cgroups: [], timeoutMs: 60_000 }, log, (q, v) => (vm.pids = [q, v]));
        vm.agent = r.agent;
        copyMs.push(Date.now() - started);
        const out = await guestSh(vm, "net", `echo ${name} >/run/kuasar/shared/hello; i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done; ip addr add 10.99.${i}.2/24 dev eth0 && ip link set eth0 up && cat /sys/class/net/eth0/address; cat /proc/sys/kernel/random/boot_id; date +%s`);
        const [guestMac, bootId = "", guestNow = "0"] = out.slice(-3);
        assert.equal(guestMac, mac, `${name}'s NIC carries its own MAC`);
        assert.equal(readFileSync(join(p.shared, "hello"), "utf8").trim(), name, `${name} writes into its own share`);
        // The template's own probe ran in the template's guest, before the save: carried over, not run again.
        assert.match(readFileSync(p.journal, "utf8"), / template:9p\n/, "the agent's journal moved to the share, with what it held");
        assert.ok(Math.abs(Date.now() / 1000 - Number(guestNow)) <= 2, `${name}'s clock was set from the host (guest ${guestNow})`);
        facts.push({ bootId, skewS: Math.round(Date.now() / 1000 - Number(guestNow)), sinceSaveS: 0 });
        execFileSync("busybox", ["ping", "-c", "1", "-W", "20", `10.99.${i}.2`], { stdio: "pipe" }); // the host reaches the guest on its own address
      }
      const copyIds = facts.slice(-3).map((f) => f.bootId);
      assert.equal(new Set(copyIds).size, 3, `each restored pod VM has its own boot_id: ${copyIds.join(" ")}`);
      // A 9p template (its guest has 9p: build/guest-template) is restored onto private RAM, no copy, no virtiofsd.
      assert.equal(copies.every((vm) => existsSync(vm.paths.memory)), template.share === "virtio-fs", `a RAM copy per VM only for a virtio-fs template (this one: ${template.share})`);
      const copyPss = copies.map((vm) => pssMb(vm.pids[0]!) + (vm.pids[1]! > 0 ? pssMb(vm.pids[1]!) : 0));
      const copyFileMb = copies.map((vm) => (existsSync(vm.paths.memory) ? (statSync(vm.paths.memory).blocks * 512) / 2 ** 20 : 0));
      for (const vm of copies) await stop(vm);
      for (let i = 0; i < 3; i++) execFileSync("ip", ["link", "del", `tmpl${i}`]);

      // 5. Cold boots, as pods boot today: virtiofsd, memfd RAM, the share mounted at boot.
      const bootMs: number[] = [];
      const booted: Vm[] = [];
      for (let i = 0; i < 5; i++) {
        const name = `booted-${i}`;
        const p = paths(name);
        const vm: Vm = { name, paths: p, pids: [] };
        vms.push(vm);
        booted.push(vm);
        const started = Date.now();
        const b = await bootVm(qemu, options, { id: name, paths: p, accelerator: "tcg", vcpus: 1, memoryMb: MEMORY_MB, nic: undefined, netnsPath: undefined, cgroups: [], timeoutMs: BOOT_TIMEOUT_MS }, log, (q, v) => (vm.pids = [q, v]));
        vm.agent = b.agent;
        bootMs.push(Date.now() - started);
        if (i >= 3) await stop(booted[i - 3]!); // three alive at the end
      }
      const bootedPss = booted.slice(2).map((vm) => pssMb(vm.pids[0]!) + pssMb(vm.pids[1]!));
      for (const vm of booted) await stop(vm);

      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
      t.diagnostic(`restore (private RAM) to agent answering: median ${median(restoreMs)} ms of ${fmt(restoreMs)}`);
      t.diagnostic(`restore as a pod (${template.share === "virtio-9p" ? "private RAM, 9p" : "sparse RAM copy, virtio-fs"}; share and NIC hot-plugged, share mounted, identity set): median ${median(copyMs)} ms of ${fmt(copyMs)}`);
      t.diagnostic(`cold boot to agent answering: median ${median(bootMs)} ms of ${fmt(bootMs)}`);
      t.diagnostic(`QEMU PSS per VM, 3 alive: restored private ${fmt(restoredPss)} MB; restored as pods (${template.share}) ${fmt(copyPss)} MB (QEMU + virtiofsd if any; their RAM copies hold ${fmt(copyFileMb)} MB of tmpfs); booted ${fmt(bootedPss)} MB (QEMU + virtiofsd)`);
      assert.ok(median(restoreMs) < median(bootMs), "restoring beats booting");
      assert.ok(Math.max(...restoredPss) < Math.min(...bootedPss), "private copy-on-write RAM shares the template's pages");
    } finally {
      for (const vm of vms) await stop(vm);
      for (let i = 0; i < 3; i++) spawnQuiet(["ip", "link", "del", `tmpl${i}`]);
      rmSync(dir, { recursive: true, force: true });
    }
    const leaked = censusDiff(before, takeCensus(scope));
    assert.deepEqual(leaked, {}, "nothing left behind");
  });
});

function spawnQuiet(argv: string[]): void {
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: "ignore" });
  } catch {
    // already gone
  }
}
