import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { mountsBelow } from "../../src/fs/mounts.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { repoRoot } from "../../testing/deps.js";
import { assertIsolated } from "../../testing/isolation.js";
import { afterRedial, containerd2WithKuasar, type Containerd2WithKuasar, HANDLER, VMM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { TeardownScope } from "../../testing/teardown-scope.js";
import { containerd17WithKuasar, type Containerd17WithKuasar, handler17Of } from "../../testing/kuasar-containerd17.js";
import { fetchContainer, httpGet, joinPodBridge, kernelReleases, processesOf, VMM_TEST_CONFIG, webContainer } from "../../testing/vm-pod.js";

assertIsolated();

/** The highest `tick N` in a CRI log. */
function lastTick(log: string): number {
  return Math.max(-1, ...[...log.matchAll(/ F tick (\d+)$/gm)].map((m) => Number(m[1])));
}

describe("vmm sandboxer under stock containerd 2.x (a QEMU micro-VM per pod)", () => {
  // One containerd and one kuasard (runc and vmm) for every behaviour below; each `it` names one, in the pod's order.
  const scope = new TeardownScope();
  let env: Containerd2WithKuasar;
  before(async () => {
    env = await containerd2WithKuasar(scope, ["runc", "vmm"], VMM_TEST_CONFIG);
  });
  after(() => scope.run());

  describe("a two-container VM pod beside a runc pod", () => {
    let guest = "";
    let host = "";
    before(() => ({ guest, host } = kernelReleases()));
    /** The pod's sysctls, set in its guest at start: values no guest, kernel or containerd has by default. */
    const sysctls = { "net.ipv4.ping_group_range": "100 200", "kernel.msgmax": "65536" };
    const cfg = () => {
      const c = podConfig("vm", `${env.dir}/logs/vm`);
      c.linux!.sysctls = { ...sysctls };
      return c;
    };
    const runcCfg = () => podConfig("beside", `${env.dir}/logs/beside`);
    const web = webContainer("web", 8080, "hello-from-the-vm");
    const client = fetchContainer("client", "http://127.0.0.1:8080/");
    const ticker = shContainer("ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
    let runcPod: { podId: string; ids: string[] };
    let podId = "";
    let webId = "";
    let clientId = "";
    let ip = "";

    it("boots Ready beside a runc pod, on a guest kernel that is not the host's; Status says how the VM runs", async () => {
      const { cri } = env;
      assert.notEqual(guest, host, "the guest kernel must differ from the host's for this test to mean anything");
      runcPod = await runPod(cri, HANDLER, runcCfg(), [shContainer("sh", "exec sleep 100000")]);
      const run = await runPod(cri, VMM_HANDLER, cfg(), [web, client]);
      podId = run.podId;
      [webId, clientId] = run.ids as [string, string];
      const status = await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true });
      assert.equal(status.status?.state, PodSandboxState.SANDBOX_READY);
      assert.match(JSON.stringify(status.info), /accelerator/);
      ip = status.status?.network?.ip ?? "";
    });

    it("its containers run on the guest kernel and reach each other over the pod's localhost", async () => {
      const webLog = await waitForLog(logFile(cfg(), web), guest);
      assert.doesNotMatch(webLog, new RegExp(`F ${host.replace(/[.+]/g, "\\$&")}$`, "m"));
      await waitForLog(logFile(cfg(), client), "hello-from-the-vm", 120_000);
    });

    it("the pod IP answers from the host", async () => {
      assert.match(ip, /^192\.0\.2\./);
      joinPodBridge();
      assert.equal((await httpGet(ip, 8080)).trim(), "hello-from-the-vm");
    });

    it("its guest has the pod's hostname, address, routes (the CNI's gateway route too) and sysctls", async () => {
      const script = "hostname; ip -4 addr show dev eth0 | grep -c \"inet $0/\"; ip -4 route | grep '^198.51.100.0/24' | tr -s ' ' | sed 's/ $//'; cat /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/msgmax";
      const ex = await env.cri.runtime.execSync({ containerId: webId, cmd: ["sh", "-c", script, ip], timeout: 60n });
      assert.equal(ex.exitCode, 0, decodeOut(ex.stderr));
      const [hostname, addrs, route, ping, msgmax] = decodeOut(ex.stdout).trim().split("\n");
      assert.equal(hostname, "vm");
      assert.equal(addrs, "1", `eth0 has the pod IP ${ip}`);
      assert.equal(route, "198.51.100.0/24 via 192.0.2.254 dev eth0");
      assert.deepEqual([ping?.replace(/\s+/g, " "), msgmax], [sysctls["net.ipv4.ping_group_range"], sysctls["kernel.msgmax"]]);
    });

    it("ExecSync returns the guest's stdout, stderr and exit code", async () => {
      const ex = await env.cri.runtime.execSync({ containerId: webId, cmd: ["sh", "-c", "uname -r; echo oops >&2; exit 7"], timeout: 60n });
      assert.equal(decodeOut(ex.stdout).trim(), guest);
      assert.equal(decodeOut(ex.stderr).trim(), "oops");
      assert.equal(ex.exitCode, 7);
    });

    it("kuasar-ctl exec runs a command in the guest itself, outside any container; an unknown pod is not found", () => {
      const ctl = execFileSync(join(repoRoot(), "bin", "kuasar-ctl"), ["exec", "--state-dir", `${env.dir}/ks`, podId, "--", "sh", "-c", "uname -r; ls /run/kuasar/shared"], { encoding: "utf8" });
      assert.match(ctl, new RegExp(`^${guest.replace(/[.+]/g, "\\$&")}\n`));
      assert.match(ctl, /agent/);
      assert.throws(() => execFileSync(join(repoRoot(), "bin", "kuasar-ctl"), ["exec", "--state-dir", `${env.dir}/ks`, "no-such-pod", "--", "true"], { stdio: "pipe" }), /not found/);
    });

    it("a container's exit code comes back exactly (42), with its output", async () => {
      const { cri } = env;
      const quitter = shContainer("quitter", "echo bye; exit 42");
      const { containerId: quitId } = await cri.runtime.createContainer({ podSandboxId: podId, config: quitter, sandboxConfig: cfg() });
      await cri.runtime.startContainer({ containerId: quitId });
      assert.equal((await waitExited(cri, quitId, 120_000)).exitCode, 42);
      await waitForLog(logFile(cfg(), quitter), "bye");
    });

    it("kill -9 of kuasard: the VM pod keeps running and is managed after the restart; no output line of either pod is lost", async () => {
      const { cri } = env;
      const { containerId: tickId } = await cri.runtime.createContainer({ podSandboxId: podId, config: ticker, sandboxConfig: cfg() });
      await cri.runtime.startContainer({ containerId: tickId });
      const { containerId: runcTickId } = await cri.runtime.createContainer({ podSandboxId: runcPod.podId, config: ticker, sandboxConfig: runcCfg() });
      await cri.runtime.startContainer({ containerId: runcTickId });
      await waitForLog(logFile(cfg(), ticker), "tick 3", 120_000);
      await waitForLog(logFile(runcCfg(), ticker), "tick 3");
      const qemuBefore = await processesOf("qemu-system-x86_64");
      await env.sandboxer.kill9();
      const lastBefore = lastTick(readFileSync(logFile(cfg(), ticker), "utf8"));
      await new Promise((r) => setTimeout(r, 1000)); // the guest goes on writing while kuasard is away
      await env.restartSandboxer();
      assert.equal((await afterRedial(() => cri.runtime.podSandboxStatus({ podSandboxId: podId }))).status?.state, PodSandboxState.SANDBOX_READY);
      assert.deepEqual(await processesOf("qemu-system-x86_64"), qemuBefore, "no VM was restarted or lost");
      const ex2 = await afterRedial(() => cri.runtime.execSync({ containerId: clientId, cmd: ["wget", "-qO-", "http://127.0.0.1:8080/"], timeout: 60n }));
      assert.equal(decodeOut(ex2.stdout).trim(), "hello-from-the-vm");
      for (const [c, file] of [["vm", logFile(cfg(), ticker)], ["runc", logFile(runcCfg(), ticker)]] as const) {
        await waitForLog(file, `tick ${lastBefore + 15} `.trimEnd(), 120_000);
        const ticks = [...readFileSync(file, "utf8").matchAll(/ F tick (\d+)$/gm)].map((m) => Number(m[1]));
        assert.deepEqual(ticks, ticks.map((_, i) => i), `${c}: every line is in containerd's log, in order, across the restart`);
      }
      await cri.runtime.stopContainer({ containerId: tickId, timeout: 0n });
      await cri.runtime.stopContainer({ containerId: runcTickId, timeout: 0n });
    });

    it("StopContainer with a grace period: httpd dies of TERM", async () => {
      await env.cri.runtime.stopContainer({ containerId: webId, timeout: 10n });
      const ws = await waitExited(env.cri, webId);
      assert.ok(ws.exitCode === 143 || ws.exitCode === 137, `exit ${ws.exitCode}`);
    });

    it("kill -9 of the pod's QEMU: the pod is NotReady, its containers Exited; the runc pod never noticed", async () => {
      const { cri } = env;
      const vmPids = await processesOf("qemu-system-x86_64");
      assert.equal(vmPids.length, 1, `one VM expected, found ${vmPids.length}`);
      process.kill(vmPids[0]!, "SIGKILL");
      for (let i = 0; ; i++) {
        const st = await cri.runtime.podSandboxStatus({ podSandboxId: podId });
        if (st.status?.state === PodSandboxState.SANDBOX_NOTREADY) break;
        assert.ok(i < 300, "the pod never became NotReady after its VM died");
        await new Promise((r) => setTimeout(r, 100));
      }
      const cs = await waitExited(cri, clientId);
      assert.equal(cs.state, ContainerState.CONTAINER_EXITED);
      const ex3 = await cri.runtime.execSync({ containerId: runcPod.ids[0]!, cmd: ["echo", "runc-alive"], timeout: 10n });
      assert.equal(decodeOut(ex3.stdout), "runc-alive\n");
    });

    it("stop and removal of both pods leave no VMM, no virtiofsd, no mounts or pod dirs under the sandboxer's state", async () => {
      const { cri } = env;
      for (const p of [podId, runcPod.podId]) {
        await cri.runtime.stopPodSandbox({ podSandboxId: p });
        await cri.runtime.removePodSandbox({ podSandboxId: p });
      }
      assert.deepEqual(await processesOf("qemu-system-x86_64"), []);
      assert.deepEqual(await processesOf("virtiofsd"), []);
      const vmmDir = `${env.dir}/kv`;
      assert.deepEqual(mountsBelow(vmmDir), []);
      assert.deepEqual(readdir(`${vmmDir}/pods`), []);
      assert.deepEqual(readdir(`${vmmDir}/s`), []);
    });
  });

  it("several VM pods on one kuasard: processes of different guests with the same pid are told apart, every pod stops", async () => {
    const { cri } = env;
    // Identical pods boot identical guests: their containers get the same guest pids.
    const pods = await Promise.all([0, 1, 2].map((i) => runPod(cri, VMM_HANDLER, podConfig(`twin${i}`, `${env.dir}/logs/twin${i}`), [shContainer("sleep", "exec sleep 86400")])));
    for (const p of pods) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
      const st = await cri.runtime.containerStatus({ containerId: p.ids[0]! });
      assert.equal(st.status?.state, ContainerState.CONTAINER_EXITED);
      assert.equal(st.status?.exitCode, 137);
      await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
    assert.deepEqual(await processesOf("qemu-system-x86_64"), []);
  });
});

describe("vmm sandboxer under stock containerd 1.7 (shim bridge)", () => {
  // One containerd 1.7 and one kuasard for the pod's behaviours, in order.
  const scope = new TeardownScope();
  let env: Containerd17WithKuasar;
  let guest = "";
  before(async () => {
    env = await containerd17WithKuasar(scope, ["runc", "vmm"], VMM_TEST_CONFIG);
    ({ guest } = kernelReleases());
  });
  after(() => scope.run());

  const cfg = () => podConfig("vm17", `${env.dir}/logs/vm17`);
  const web = webContainer("web", 8081, "hello-via-the-bridge");
  const client = fetchContainer("client", "http://localhost:8081/");
  let podId = "";
  let webId = "";
  let clientId = "";

  it("runs a two-container VM pod on the guest kernel; its containers reach each other over localhost", async () => {
    const run = await runPod(env.cri, handler17Of("vmm"), cfg(), [web, client]);
    podId = run.podId;
    [webId, clientId] = run.ids as [string, string];
    await waitForLog(logFile(cfg(), web), guest);
    await waitForLog(logFile(cfg(), client), "hello-via-the-bridge", 120_000);
  });

  it("the pod IP answers from the host", async () => {
    const status = await env.cri.runtime.podSandboxStatus({ podSandboxId: podId });
    const ip = status.status?.network?.ip ?? "";
    assert.match(ip, /^192\.0\.2\./);
    joinPodBridge();
    assert.equal((await httpGet(ip, 8081)).trim(), "hello-via-the-bridge");
  });

  it("ExecSync returns the guest's output and exit code", async () => {
    const ex = await env.cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "cat /proc/sys/kernel/osrelease; exit 3"], timeout: 60n });
    assert.equal(decodeOut(ex.stdout).trim(), guest);
    assert.equal(ex.exitCode, 3);
  });

  it("a container's exit code comes back exactly (42)", async () => {
    const { cri } = env;
    const quitter = shContainer("quitter", "exit 42");
    const { containerId: quitId } = await cri.runtime.createContainer({ podSandboxId: podId, config: quitter, sandboxConfig: cfg() });
    await cri.runtime.startContainer({ containerId: quitId });
    assert.equal((await waitExited(cri, quitId, 120_000)).exitCode, 42);
  });

  it("StopContainer with a grace period: httpd dies of TERM", async () => {
    await env.cri.runtime.stopContainer({ containerId: webId, timeout: 10n });
    const ws = await waitExited(env.cri, webId);
    assert.ok(ws.exitCode === 143 || ws.exitCode === 137, `exit ${ws.exitCode}`);
  });

  it("stop and removal leave no VMM, no virtiofsd, no mounts or pod dirs", async () => {
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.deepEqual(await processesOf("qemu-system-x86_64"), []);
    assert.deepEqual(await processesOf("virtiofsd"), []);
    const vmmDir = `${env.dir}/kv`;
    assert.deepEqual(mountsBelow(vmmDir), []);
    assert.deepEqual(readdir(`${vmmDir}/pods`), []);
  });
});

function readdir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
