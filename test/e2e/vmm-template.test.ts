import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, handler17Of } from "../../testing/kuasar-containerd17.js";
import { httpGet, joinPodBridge, processesOf, VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { readProcessMemory } from "../../testing/process-table.js";
import { defaultTemplateGuestDir } from "../../src/sandboxers/vmm/guest-dir.js";
import { privateDepsDir } from "../../src/fs/private-deps.js";
import { fromBinary } from "@bufbuild/protobuf";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { MetricsSchema } from "../../src/gen/io/containerd/cgroups/v2/metrics_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";

assertIsolated();

/** Templates on, and a boot deadline for the pods that boot (the first, the one after a corrupt template) that survives two busy cores under TCG. */
const TEMPLATE_TEST_CONFIG = `${VMM_TEST_CONFIG}template = true\nboot_timeout_ms = 180000\n`;

/** Serves `text` on :8080 from the container's rootfs (on the pod's share) after printing what identifies its VM, and its guest's gateway route and sysctls. */
function identityContainer(name: string, text: string) {
  const net = `route=$(ip -4 route | grep '^198.51.100.0/24' | tr -s ' ' | sed 's/ $//' | tr ' ' _) ping=$(tr -s '\\t ' _ < /proc/sys/net/ipv4/ping_group_range) msgmax=$(cat /proc/sys/kernel/msgmax)`;
  return shContainer(name, `echo "id hostname=$(hostname) boot_id=$(cat /proc/sys/kernel/random/boot_id) now=$(date +%s) ${net}"; mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`);
}

/** Waits for the one template the first pod's start builds; its key. */
async function templateBuilt(templates: string, daemonLog: () => string): Promise<string> {
  const until = Date.now() + 240_000;
  while (!(existsSync(templates) && readdirSync(templates).some((e) => !e.startsWith(".") && existsSync(join(templates, e, "template.json"))))) {
    assert.ok(Date.now() < until, `the template was built within 4 minutes; the daemon said: ${daemonLog().split("\n").filter((l) => /template/i.test(l)).join("\n")}`);
    await sleep(200);
  }
  const [key] = readdirSync(templates).filter((e) => !e.startsWith("."));
  assert.match(key!, /^(tcg|kvm)-[0-9a-f]{32}$/);
  return key!;
}

/** Waits until no template build runs (one may have started beside a boot) so that nothing is left when the test ends. */
async function buildsDone(templates: string): Promise<void> {
  const until = Date.now() + 240_000;
  while (existsSync(templates) && readdirSync(templates).some((e) => e.startsWith(".build-"))) {
    assert.ok(Date.now() < until, "the template build finished");
    await sleep(200);
  }
}

describe("vmm pods from a VM template under containerd 2.x", () => {
  it("builds the template beside the first pod's boot; the next three are restored, each with its own IP, hostname, share, boot_id and the host's clock, and survive a daemon kill -9; a corrupt template: warning, boot", async (t) => {
    const env = await containerd2WithKuasar(t, ["vmm"], TEMPLATE_TEST_CONFIG);
    const { cri } = env;
    const templates = join(env.sandboxerDir, "templates");
    /** The pod's verbose status as text (the sandboxer's info is nested in containerd's). */
    const statusText = async (podId: string) => JSON.stringify((await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info);
    const pods: { podId: string; name: string }[] = [];

    // First pod: no template yet, it boots; the template is built meanwhile.
    const firstCfg = podConfig("first", `${env.dir}/logs/first`);
    const startMs: number[] = [];
    const timed = async <T>(f: () => Promise<T>) => {
      const started = Date.now();
      const r = await f();
      startMs.push(Date.now() - started);
      return r;
    };
    const first = await timed(() => runPod(cri, VMM_HANDLER, firstCfg, [shContainer("c", "exec sleep 100000")]));
    pods.push({ podId: first.podId, name: "first" });
    joinPodBridge(); // the CNI bridge exists once a pod has a network
    const key = await templateBuilt(templates, () => env.sandboxer.logs());
    assert.doesNotMatch(await statusText(first.podId), new RegExp(key!), "the first pod booted");

    // Three pods restored from it: each its own.
    const seen: { hostname: string; bootId: string; skew: number }[] = [];
    for (const name of ["pod-a", "pod-b", "pod-c"]) {
      const cfg = podConfig(name, `${env.dir}/logs/${name}`);
      cfg.linux!.sysctls = { "net.ipv4.ping_group_range": "100 200", "kernel.msgmax": "65536" }; // no default anywhere has these
      const c = identityContainer("web", `served-by-${name}`);
      const { podId } = await timed(() => runPod(cri, VMM_HANDLER, cfg, [c]));
      pods.push({ podId, name });
      const info = await statusText(podId);
      assert.match(info, new RegExp(key!), `${name} was restored from the template`);
      // Both guests have crun (packaging/build-guest.sh) when install-deps.sh unpacked it.
      const crun = existsSync(join(privateDepsDir("crun"), "usr/bin/crun"));
      assert.match(info, new RegExp(`oci_runtime[^a-z]+${crun ? "crun" : "runc"}`), `${name}'s containers run under ${crun ? "crun" : "runc"}`);
      const line = (await waitForLog(logFile(cfg, c), "id hostname=", 120_000)).split("\n").find((l) => l.includes("id hostname="))!;
      const m = /hostname=(\S+) boot_id=(\S+) now=(\d+)/.exec(line)!;
      const loggedAt = Date.parse(line.split(" ")[0]!.replace(/\.(\d{3})\d*/, ".$1")); // host time: the relay is on the host
      seen.push({ hostname: m[1]!, bootId: m[2]!, skew: Math.abs(Number(m[3]) * 1000 - loggedAt) });
      assert.match(line, / route=198\.51\.100\.0\/24_via_192\.0\.2\.254_dev_eth0 /, `${name}'s guest has the pod's gateway route`);
      assert.match(line, / ping=100_200 msgmax=65536$/, `${name}'s guest has the pod's sysctls`);
      const status = await cri.runtime.podSandboxStatus({ podSandboxId: podId });
      const ip = status.status?.network?.ip ?? "";
      assert.match(ip, /^192\.0\.2\./, `${name} has an IP`);
      assert.equal((await httpGet(ip, 8080)).trim(), `served-by-${name}`, `${name} answers on its own IP from its own rootfs`);
    }
    assert.deepEqual(seen.map((s) => s.hostname), ["pod-a", "pod-b", "pod-c"]);
    // Each container was started by the agent writing its exec fifo (crun's own start, run afresh
    // under TCG in each restored guest, is a fallback for agents older than `fifostart`).
    assert.doesNotMatch(env.sandboxer.logs(), /started by `crun start`/);
    // Sandbox API Metrics of a restored pod: its container's numbers, read in the guest (crun has no `events --stats`).
    const sandboxApi = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => sandboxApi.close());
    const m = await sandboxApi.service(Controller).metrics({ sandboxId: pods.at(-1)!.podId });
    assert.equal(m.metrics?.data?.typeUrl, "io.containerd.cgroups.v2.Metrics", "the guest mounts cgroup v2 only");
    const cg = fromBinary(MetricsSchema, m.metrics!.data!.value);
    assert.ok(cg.memory!.usage > 0n && cg.pids!.current >= 1n && cg.cpu!.usageUsec > 0n, `memory ${cg.memory?.usage} pids ${cg.pids?.current} cpu ${cg.cpu?.usageUsec}`);
    // With the template guest built (it has 9p), the restored VMs map the template's RAM
    // privately and QEMU serves their share: only the booted first pod has a virtiofsd.
    const share = (JSON.parse(readFileSync(join(templates, key, "template.json"), "utf8")) as { share?: string }).share;
    const ninep = existsSync(`${defaultTemplateGuestDir}/initrd.img`) && existsSync(`${defaultTemplateGuestDir}/vmlinuz`);
    assert.equal(share, ninep ? "virtio-9p" : "virtio-fs", "the template's share is what its guest allows");
    if (ninep) {
      const fsd = await processesOf("virtiofsd");
      // virtiofsd forks once (its sandbox): one booted pod is one or two processes.
      assert.ok(fsd.length <= 2, `only the booted pod has a virtiofsd (${fsd.length} processes)`);
    }
    const pss = await Promise.all((await processesOf("qemu-system-x86_64")).map(async (pid) => ((await readProcessMemory(pid))?.pss_kb ?? 0) / 1024));
    t.diagnostic(`QEMU PSS with 1 booted + 3 restored pods (${share}): ${pss.map((m) => m.toFixed(1)).join(", ")} MB`);
    assert.equal(new Set(seen.map((s) => s.bootId)).size, 3, `boot_ids differ: ${seen.map((s) => s.bootId).join(" ")}`);
    for (const s of seen) assert.ok(s.skew <= 2000, `the guest clock is the host's (off by ${s.skew} ms)`);

    // kill -9 of kuasard: a restored pod is found again like a booted one (agent, journal on its share).
    const restoredPod = pods.at(-1)!;
    const { containers } = await cri.runtime.listContainers({ filter: { podSandboxId: restoredPod.podId } });
    const qemuBefore = await processesOf("qemu-system-x86_64");
    const firstDaemonLog = env.sandboxer.logs();
    await env.sandboxer.kill9();
    await env.restartSandboxer();
    assert.equal((await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: restoredPod.podId }))).status?.state, PodSandboxState.SANDBOX_READY);
    const quitter = await afterRedial(() => cri.runtime.execSync({ containerId: containers[0]!.id, cmd: ["sh", "-c", "cat /proc/sys/kernel/random/boot_id; exit 3"], timeout: 60n }));
    assert.equal(decodeOut(quitter.stdout).trim(), seen.at(-1)!.bootId, "the same guest, reached again");
    assert.equal(quitter.exitCode, 3, "its exit came back through the moved journal");
    assert.deepEqual(await processesOf("qemu-system-x86_64"), qemuBefore, "no VM was restarted or lost");

    // A corrupt template: removed with a warning, the pod boots.
    writeFileSync(join(templates, key!, "state"), "not a device state");
    const brokenCfg = podConfig("after-corruption", `${env.dir}/logs/after-corruption`);
    const broken = await timed(() => runPod(cri, VMM_HANDLER, brokenCfg, [shContainer("c", "exec sleep 100000")]));
    pods.push({ podId: broken.podId, name: "after-corruption" });
    assert.doesNotMatch(await statusText(broken.podId), new RegExp(key!), "it booted");
    assert.match(env.sandboxer.logs(), /VM template unusable: removed/);
    assert.match(env.sandboxer.logs(), /does not match its checksum/);

    const logged = `${firstDaemonLog}\n${env.sandboxer.logs()}`.split("\n").flatMap((l) => {
      try {
        return [JSON.parse(l) as { msg?: string; boot_ms?: number; restore_ms?: number }];
      } catch {
        return [];
      }
    });
    t.diagnostic(`QEMU start to agent answering: booted ${logged.filter((l) => l.msg === "guest agent answered").map((l) => l.boot_ms).join(", ")} ms; restored ${logged.filter((l) => l.restore_ms !== undefined).map((l) => l.restore_ms).join(", ")} ms (with share and NIC plugged, share mounted, identity set)`);
    t.diagnostic(`RunPodSandbox + one container: ${startMs.map((m) => m.toFixed(0)).join(", ")} ms (first and last booted, the three between restored)`);

    for (const p of pods) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
      await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
    await buildsDone(templates); // the rebuild started beside the last boot
    assert.deepEqual(await processesOf("qemu-system-x86_64"), [], "no VM left");
    assert.deepEqual(await processesOf("virtiofsd"), [], "no virtiofsd left");
    for (const p of pods) assert.ok(!existsSync(join(env.sandboxerDir, "pods", p.podId)), `${p.name}'s dir (and its RAM copy) is gone`);
  });
});

describe("vmm pods from a VM template under containerd 1.7 (shim bridge)", () => {
  it("restores the pods after the first from its template: own hostname, IP, rootfs on the share, boot_id", async (t) => {
    const env = await containerd17WithKuasar(t, ["vmm"], TEMPLATE_TEST_CONFIG);
    const { cri } = env;
    const handler = handler17Of("vmm");
    const firstCfg = podConfig("first17", `${env.dir}/logs/first17`);
    const first = await runPod(cri, handler, firstCfg, [shContainer("c", "exec sleep 100000")]);
    const pods = [first.podId];
    joinPodBridge();
    // The vmm sandboxer's dir (kuasard's --dir when it serves one kind): where the first pod lives.
    const vmmDir = readdirSync(env.dir).find((d) => existsSync(join(env.dir, d, "pods", first.podId)));
    assert.ok(vmmDir, "the first pod's dir");
    const templates = join(env.dir, vmmDir, "templates");
    await templateBuilt(templates, () => env.kuasard.logs());
    const bootIds: string[] = [];
    for (const name of ["pod17-a", "pod17-b"]) {
      const cfg = podConfig(name, `${env.dir}/logs/${name}`);
      const c = identityContainer("web", `served-by-${name}`);
      const { podId } = await runPod(cri, handler, cfg, [c]);
      pods.push(podId);
      const line = await waitForLog(logFile(cfg, c), "id hostname=", 120_000);
      const m = /hostname=(\S+) boot_id=(\S+)/.exec(line)!;
      assert.equal(m[1], name);
      bootIds.push(m[2]!);
      const ip = (await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.network?.ip ?? "";
      assert.equal((await httpGet(ip, 8080)).trim(), `served-by-${name}`);
    }
    assert.notEqual(bootIds[0], bootIds[1]);
    assert.match(env.kuasard.logs(), /VM restored from its template/);
    assert.equal(env.kuasard.logs().match(/VM restored from its template/g)?.length, 2, "both pods after the first were restored");
    for (const podId of pods) {
      await cri.runtime.stopPodSandbox({ podSandboxId: podId });
      await cri.runtime.removePodSandbox({ podSandboxId: podId });
    }
    await buildsDone(templates);
    assert.deepEqual(await processesOf("qemu-system-x86_64"), [], "no VM left");
  });
});
