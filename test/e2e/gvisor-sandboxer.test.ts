import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { create, fromBinary } from "@bufbuild/protobuf";
import { parseProcCgroup } from "../../src/cgroup/cgroup-stats.js";
import { createPodCgroup, mountedHierarchies, podMemoryLimit } from "../../src/cgroup/pod-cgroup.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { MetricsSchema } from "../../src/gen/io/containerd/cgroups/v1/metrics_pb.js";
import { ContainerState, DNSConfigSchema, LinuxContainerResourcesSchema, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { isAlive } from "../../src/pod/pod.js";
import { BUSYBOX_IMAGE } from "../../testing/busybox-image.js";
import type { CriClient } from "../../testing/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, GVISOR_HANDLER, HANDLER, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, GVISOR_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { joinPodBridge } from "../../testing/vm-pod.js";
import { importWasmImage } from "../../testing/wasm-image.js";
import { echoArgsEnvFileModule } from "../../testing/wat-modules.js";

assertIsolated();

const run = promisify(execFile);
const MiB = 1 << 20;

/** Debian bookworm's runsc (2022-12), still supported where it is the only one. */
const BOOKWORM_RUNSC = "/usr/bin/runsc";

/** Host pids of a gvisor pod: its runsc sandbox (from runsc's pid file) and its holder. */
function podPids(sandboxerDir: string, podId: string): { sandbox: number; holder: number } {
  const dir = join(sandboxerDir, "pods", podId);
  return {
    sandbox: Number(readFileSync(join(dir, "gvisor", "sandbox.pid"), "utf8").trim()),
    holder: Number(readFileSync(join(dir, "holder.pid"), "utf8").trim()),
  };
}

/** What a TCP server at `ip:port` sends, read from the host's side (retried until it listens). */
async function readFromHost(ip: string, port: number): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = connect({ host: ip, port }, () => s.end());
        let text = "";
        s.setEncoding("utf8");
        s.setTimeout(5000, () => s.destroy(new Error("timed out")));
        s.on("data", (d: string) => (text += d));
        s.on("end", () => (text ? resolve(text) : reject(new Error("closed without data"))));
        s.on("error", reject);
      });
    } catch (err) {
      if (i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !isAlive(pid);
}

/** Nothing of the pod remains: no process, no pod dir (with its runsc state), no record. */
async function assertNothingLeft(sandboxerDir: string, pids: { sandbox: number; holder: number }): Promise<void> {
  assert.ok(await waitGone(pids.sandbox), `runsc sandbox ${pids.sandbox} still alive`);
  assert.ok(await waitGone(pids.holder), `holder ${pids.holder} still alive`);
  assert.deepEqual(readdirSync(join(sandboxerDir, "pods")), []);
  assert.deepEqual(readdirSync(join(sandboxerDir, "sandboxes")), []);
  assert.deepEqual(readdirSync(join(sandboxerDir, "containers")), []);
}

/**
 * The pod every gvisor e2e runs: `kernel` prints dmesg and serves on
 * localhost:7000, `client` reads from it, `answer` exits 42, `graceful`
 * traps SIGTERM. Checks everything the issue asks for, then removes the pod.
 */
async function exerciseGvisorPod(t: TestContext, cri: CriClient, handler: string, logDir: string, sandboxerDir: string, sandboxApiSocket?: string): Promise<void> {
  const cfg = podConfig("gv", logDir);
  cfg.dnsConfig = create(DNSConfigSchema, { servers: ["192.0.2.53"], searches: ["gv.test"] });
  const kernel = shContainer("kernel", "dmesg; echo dmesg-done; while true; do echo pong-from-kernel | nc -l -p 7000; done");
  const client = shContainer("client", "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done");
  const { podId, ids } = await runPod(cri, handler, cfg, [kernel, client]);
  const [kernelId, clientId] = ids as [string, string];
  const pids = podPids(sandboxerDir, podId);
  assert.ok(isAlive(pids.sandbox), "the runsc sandbox runs");
  assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.state, PodSandboxState.SANDBOX_READY);

  // gVisor's kernel, not the host's: its boot messages, not the host's log.
  const dmesg = await waitForLog(logFile(cfg, kernel), "dmesg-done");
  assert.match(dmesg, /Starting gVisor/);
  assert.doesNotMatch(dmesg, /Linux version/);
  const uname = await cri.runtime.execSync({ containerId: clientId, cmd: ["cat", "/proc/version"], timeout: 20n });
  assert.notEqual(decodeOut(uname.stdout).trim(), readFileSync("/proc/version", "utf8").trim());

  // gVisor's own network stack (--network=sandbox, chosen by the start-time probe): it took the
  // pod's address off the interface in the pod's namespace, and the pod IP answers the host.
  const podIp = (await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.network?.ip ?? "";
  assert.match(podIp, /^\d+\.\d+\.\d+\.\d+$/);
  const inPodNetns = (await run("nsenter", [`--net=/proc/${pids.sandbox}/ns/net`, "ip", "-4", "-o", "addr", "show"])).stdout;
  assert.doesNotMatch(inPodNetns, new RegExp(`inet ${podIp.replace(/\./g, "\\.")}/`), "the netstack owns the pod's address");
  joinPodBridge(); // "the host": the test's netns on the e2e CNI bridge
  assert.equal(await readFromHost(podIp, 7000), "pong-from-kernel\n", "the pod IP is reachable from the host");

  // Two containers talk over localhost (retry until the listener is up).
  let got = "";
  for (let i = 0; i < 100 && !got.includes("pong-from-kernel"); i++) {
    const r = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "nc 127.0.0.1 7000 </dev/null"], timeout: 20n });
    got = decodeOut(r.stdout);
    if (!got) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(got, "pong-from-kernel\n");

  // The pod's DNS and hosts files reach a container (bind mounts of containerd's files, served by
  // the container's gofer; the sandbox itself was born behind the net sysctl mask, see net-sysctl-mask.ts).
  const dns = await cri.runtime.execSync({ containerId: clientId, cmd: ["cat", "/etc/resolv.conf", "/etc/hosts"], timeout: 20n });
  assert.match(decodeOut(dns.stdout), /nameserver 192\.0\.2\.53\n/);
  assert.match(decodeOut(dns.stdout), /search gv\.test\n/);
  assert.match(decodeOut(dns.stdout), /127\.0\.0\.1\s+localhost/);

  // ExecSync: stdout, stderr, exit code; the pod's hostname.
  const ex = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout: 20n });
  assert.deepEqual([decodeOut(ex.stdout), decodeOut(ex.stderr), ex.exitCode], ["out\n", "err\n", 3]);
  const host = await cri.runtime.execSync({ containerId: clientId, cmd: ["hostname"], timeout: 20n });
  assert.equal(decodeOut(host.stdout), "gv\n");

  // Sandbox API Metrics: gVisor's own accounting of the pod's containers.
  if (sandboxApiSocket) {
    const sandboxApi = new GrpcClient(sandboxApiSocket, { namespace: "k8s.io" });
    t.after(() => sandboxApi.close());
    // Status says what the sandbox runs on, and why (the start-time probe).
    const info = (await sandboxApi.service(Controller).status({ sandboxId: podId, verbose: false })).info;
    assert.equal(info["runsc_network"], "sandbox", JSON.stringify(info));
    assert.match(info["runsc_platform"] ?? "", /^(systrap|ptrace)$/);
    assert.ok(info["runsc_platform_reason"] && info["runsc_network_reason"], JSON.stringify(info));
    const m = await sandboxApi.service(Controller).metrics({ sandboxId: podId });
    assert.equal(m.metrics?.data?.typeUrl, "io.containerd.cgroups.v1.Metrics");
    const cg = fromBinary(MetricsSchema, m.metrics!.data!.value);
    assert.ok(cg.memory!.usage!.usage > 0n && cg.pids!.current >= 2n, `memory ${cg.memory?.usage?.usage} pids ${cg.pids?.current}`);
    const images = await cri.image.listImages({});
    assert.ok(images.images.every((i) => !i.repoTags.some((tag) => tag.includes("pause"))), "no pause image in the store");
  }

  // exit 42 is reported as 42, with its log.
  const answer = shContainer("answer", "echo the-answer; exit 42");
  const { containerId: answerId } = await cri.runtime.createContainer({ podSandboxId: podId, config: answer, sandboxConfig: cfg }, { timeoutMs: 120_000 });
  await cri.runtime.startContainer({ containerId: answerId }, { timeoutMs: 120_000 });
  assert.equal((await waitExited(cri, answerId)).exitCode, 42);
  await waitForLog(logFile(cfg, answer), "stdout F the-answer");

  // Stop with a grace period: the trap runs and the exit is clean; one that ignores SIGTERM is killed.
  await cri.runtime.stopContainer({ containerId: clientId, timeout: 10n });
  assert.equal((await waitExited(cri, clientId)).exitCode, 0);
  await waitForLog(logFile(cfg, client), "stdout F got-term");
  const stubborn = shContainer("stubborn", "trap '' TERM; echo stubborn-up; while true; do sleep 1; done");
  const { containerId: stubbornId } = await cri.runtime.createContainer({ podSandboxId: podId, config: stubborn, sandboxConfig: cfg }, { timeoutMs: 120_000 });
  await cri.runtime.startContainer({ containerId: stubbornId }, { timeoutMs: 120_000 });
  await waitForLog(logFile(cfg, stubborn), "stubborn-up");
  await cri.runtime.stopContainer({ containerId: stubbornId, timeout: 1n });
  assert.equal((await waitExited(cri, stubbornId)).exitCode, 137);

  // A program that does not exist: Create succeeds (runsc creates the container at Start), Start fails and says so.
  const missing = shContainer("missing", "");
  missing.command = ["/no/such/program"];
  missing.args = [];
  const { containerId: missingId } = await cri.runtime.createContainer({ podSandboxId: podId, config: missing, sandboxConfig: cfg }, { timeoutMs: 120_000 });
  await assert.rejects(cri.runtime.startContainer({ containerId: missingId }, { timeoutMs: 120_000 }), /runsc (run|start) .*exit status/);
  await cri.runtime.removeContainer({ containerId: missingId });
  // One created and never started stays until the pod goes: the pod's stop and removal take it.
  await cri.runtime.createContainer({ podSandboxId: podId, config: shContainer("unstarted", "exit 3"), sandboxConfig: cfg }, { timeoutMs: 120_000 });

  for (const id of [answerId, clientId, stubbornId]) await cri.runtime.removeContainer({ containerId: id });
  assert.equal((await cri.runtime.containerStatus({ containerId: kernelId })).status?.state, ContainerState.CONTAINER_RUNNING);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  await assertNothingLeft(sandboxerDir, pids);
  t.diagnostic(`gvisor pod ${podId} ran and left nothing behind`);
}

describe("gvisor sandboxer under stock containerd 2.x (proxy sandbox plugin, CRI)", () => {
  it("runs a pod on gVisor's kernel: dmesg, localhost, ExecSync, logs, exit 42, graceful stop, removal; nothing left", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    await exerciseGvisorPod(t, env.cri, GVISOR_HANDLER, `${env.dir}/logs/gv`, env.sandboxerDir, env.listen);
  });

  it("kill -9 of the pod's runsc sandbox: the pod goes NotReady, its containers Exited, and it is removed cleanly", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const { cri } = env;
    const cfg = podConfig("victim", `${env.dir}/logs/victim`);
    const { podId, ids } = await runPod(cri, GVISOR_HANDLER, cfg, [shContainer("a", "echo up; sleep 100000"), shContainer("b", "sleep 100000")]);
    await waitForLog(logFile(cfg, shContainer("a", "")), "stdout F up");
    const pids = podPids(env.sandboxerDir, podId);
    process.kill(pids.sandbox, "SIGKILL");
    for (const id of ids) assert.equal((await waitExited(cri, id)).state, ContainerState.CONTAINER_EXITED);
    let state: PodSandboxState | undefined;
    for (let i = 0; i < 300 && state !== PodSandboxState.SANDBOX_NOTREADY; i++) {
      state = (await cri.runtime.podSandboxStatus({ podSandboxId: podId })).status?.state;
      if (state !== PodSandboxState.SANDBOX_NOTREADY) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, PodSandboxState.SANDBOX_NOTREADY);
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    await assertNothingLeft(env.sandboxerDir, pids);
  });
});

describe("gvisor UpdateContainerResources under stock containerd 2.x", () => {
  it("bounds the pod's sandbox on the host by its containers' limits, at create and at update", async (t) => {
    const env = await containerd2WithKuasar(t, ["gvisor"]);
    const parent = `/kuasar-e2e-${randomBytes(6).toString("hex")}`;
    createPodCgroup(parent);
    t.after(() => {
      for (const h of mountedHierarchies()) rmdirQuietly(join(h.mount, parent));
    });
    const cfg = podConfig("upd", `${env.dir}/logs/upd`);
    cfg.linux = { ...cfg.linux, cgroupParent: parent };
    const a = shContainer("a", "sleep 100000");
    a.linux = { ...a.linux, resources: create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(64 * MiB) }) };
    const b = shContainer("b", "sleep 100000");
    b.linux = { ...b.linux, resources: create(LinuxContainerResourcesSchema, { memoryLimitInBytes: BigInt(32 * MiB) }) };
    const { podId, ids } = await runPod(env.cri, GVISOR_HANDLER, cfg, [a, b]);
    const sandboxCgroup = `${parent}/${podId}`;
    const sandboxPid = podPids(env.sandboxerDir, podId).sandbox;
    for (const m of parseProcCgroup(readFileSync(`/proc/${sandboxPid}/cgroup`, "utf8"))) assert.equal(m.path, sandboxCgroup, "the runsc sandbox is in the pod's cgroup");
    assert.equal(podMemoryLimit(sandboxCgroup), 96 * MiB, "the sum of the containers' limits at create");

    await env.cri.runtime.updateContainerResources({ containerId: ids[1]!, linux: { memoryLimitInBytes: BigInt(128 * MiB) } });
    assert.equal(podMemoryLimit(sandboxCgroup), 192 * MiB, "the update is visible in the sandbox's cgroup");
    // A limit the host cannot take back is refused and changes nothing.
    await assert.rejects(env.cri.runtime.updateContainerResources({ containerId: ids[0]!, linux: { memoryLimitInBytes: -1n } }), /cannot lift/);
    assert.equal(podMemoryLimit(sandboxCgroup), 192 * MiB);
    const inside = await env.cri.runtime.execSync({ containerId: ids[0]!, cmd: ["echo", "still-running"], timeout: 20n });
    assert.equal(decodeOut(inside.stdout), "still-running\n");
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* gone already */
  }
}

describe("gvisor sandboxer with Debian bookworm's runsc (2022-12) selected", () => {
  it("runs the same pod on it (ptrace, exits from runsc wait, the netstack with the net sysctls hidden)", async (t) => {
    assert.ok(existsSync(BOOKWORM_RUNSC), `${BOOKWORM_RUNSC} missing: install Debian's runsc (packaging/install-deps.sh)`);
    const env = await containerd2WithKuasar(t, ["gvisor"], `runsc_binary = "${BOOKWORM_RUNSC}"\n`);
    await exerciseGvisorPod(t, env.cri, GVISOR_HANDLER, `${env.dir}/logs/gv`, env.sandboxerDir, env.listen);
    assert.match(env.sandboxer.logs(), /"platform":"ptrace".*"msg":"gVisor platform and network chosen"/);
  });
});

describe("gvisor sandboxer under stock containerd 1.7 (shim bridge)", () => {
  it("runs the same pod through the bridge, picked by the runtime handler's options", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "gvisor"]);
    await exerciseGvisorPod(t, env.cri, GVISOR_HANDLER_17, `${env.dir}/logs/gv17`, join(env.dir, "kg"));
    assert.match(env.kuasard.logs(), /"sandboxer":"gvisor".*"msg":"gVisor sandbox started"/);
  });
});

describe("gvisor sandboxer for ctr containers without a pod (containerd 1.7 shim bridge)", () => {
  it("ctr run/exec/ps/metrics/kill and a terminal on gVisor, picked by the io.kuasar.sandboxer annotation", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "gvisor"]);
    const c = env.containerd;
    const onGvisor = ["--runtime", "io.containerd.kuasar.v1", "--annotation", "io.kuasar.sandboxer=gvisor"];
    const r = await c.ctr(["run", "--rm", ...onGvisor, BUSYBOX_IMAGE, "t1", "sh", "-c", "dmesg | head -1; exit 3"], { allowFailure: true });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /Starting gVisor/);

    await c.ctr(["run", "-d", ...onGvisor, BUSYBOX_IMAGE, "t2", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    const ex = await c.ctr(["task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo from-exec; exit 5"], { allowFailure: true });
    assert.equal(ex.code, 5, ex.stderr);
    assert.equal(ex.stdout, "from-exec\n");
    assert.match((await c.ctr(["task", "ps", "t2"])).stdout, /^\d+\s/m);
    assert.match((await c.ctr(["task", "metrics", "t2"])).stdout, /memory\.usage|pids\.current/);
    // An exec with a terminal: runsc exec hands its console to the holder.
    const execTty = `${c.binaries.ctr} --address ${c.address} task exec -t --exec-id e2 t2 sh -c 'if [ -t 0 ] && [ -t 1 ]; then echo exec-on-a-terminal; else echo exec-without-terminal; fi; sleep 1; exit 6'`;
    const et = await run("script", ["-qec", execTty, "/dev/null"], { env: { PATH: process.env["PATH"] ?? "" } }).catch((e: { code: number; stdout: string }) => e);
    assert.equal((et as { code: number }).code, 6, (et as { stdout: string }).stdout);
    assert.match((et as { stdout: string }).stdout, /exec-on-a-terminal/);
    await c.ctr(["task", "pause", "t2"]);
    assert.match((await c.ctr(["task", "ls"])).stdout, /t2\s+\d+\s+PAUSED/);
    await c.ctr(["task", "resume", "t2"]);
    assert.match((await c.ctr(["task", "ls"])).stdout, /t2\s+\d+\s+RUNNING/);
    await c.ctr(["task", "kill", "t2"]);
    for (let i = 0; i < 100 && !(await c.ctr(["task", "ls"])).stdout.includes("STOPPED"); i++) await new Promise((res) => setTimeout(res, 50));
    assert.match((await c.ctr(["task", "ls"])).stdout, /t2\s+\d+\s+STOPPED/);
    await c.ctr(["task", "delete", "t2"]);
    await c.ctr(["container", "delete", "t2"]);

    // A terminal: script(1) gives ctr a pty of its own; runsc hands the container's console to the holder.
    const ctrCmd = `${c.binaries.ctr} --address ${c.address} run -t --rm ${onGvisor.join(" ")} ${BUSYBOX_IMAGE} t3 sh -c '[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; exit 4'`;
    const tty = await run("script", ["-qec", ctrCmd, "/dev/null"], { env: { PATH: process.env["PATH"] ?? "" } }).catch((e: { code: number; stdout: string }) => e);
    assert.equal((tty as { code: number }).code, 4);
    assert.match((tty as { stdout: string }).stdout, /on-a-terminal/);
    assert.match(env.kuasard.logs(), /"sandboxer":"gvisor".*"msg":"gVisor sandbox started"/);
  });
});

describe("gvisor, runc and wasm pods at the same time on one kuasard", () => {
  it("runs one pod of each kind side by side", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm", "gvisor"]);
    const { cri } = env;
    await importWasmImage(env.containerd, "k8s.io", "docker.io/library/wasm-demo:latest", { "echo.wasm": await echoArgsEnvFileModule() }, "/echo.wasm");
    const runcPod = await runPod(cri, HANDLER, podConfig("r", `${env.dir}/logs/r`), [shContainer("sh", "exec sleep 100000")]);
    const gvPod = await runPod(cri, GVISOR_HANDLER, podConfig("g", `${env.dir}/logs/g`), [shContainer("sh", "exec sleep 100000")]);
    const wasmCfg = podConfig("w", `${env.dir}/logs/w`);
    const vol = mkdtempSync("/tmp/gv-wasm-vol-");
    t.after(() => rmSync(vol, { recursive: true, force: true }));
    const wasm = {
      metadata: { name: "echo", attempt: 0 },
      image: { image: "docker.io/library/wasm-demo:latest" },
      command: ["/echo.wasm"],
      args: ["side-by-side"],
      logPath: "echo.log",
      mounts: [{ containerPath: "/data", hostPath: vol }],
    };
    const wasmPod = await runPod(cri, WASM_HANDLER, wasmCfg, [wasm]);

    // All three pods are up at once.
    for (const p of [runcPod, gvPod, wasmPod]) {
      assert.equal((await cri.runtime.podSandboxStatus({ podSandboxId: p.podId })).status?.state, PodSandboxState.SANDBOX_READY);
    }
    const inGvisor = await cri.runtime.execSync({ containerId: gvPod.ids[0]!, cmd: ["dmesg"], timeout: 20n });
    assert.match(decodeOut(inGvisor.stdout), /Starting gVisor/);
    const inRunc = await cri.runtime.execSync({ containerId: runcPod.ids[0]!, cmd: ["cat", "/proc/version"], timeout: 20n });
    assert.equal(decodeOut(inRunc.stdout).trim(), readFileSync("/proc/version", "utf8").trim());
    assert.equal((await waitExited(cri, wasmPod.ids[0]!)).exitCode, 5);
    await waitForLog(logFile(wasmCfg, wasm), "arg: side-by-side");
    assert.equal((await cri.runtime.containerStatus({ containerId: gvPod.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    assert.equal((await cri.runtime.containerStatus({ containerId: runcPod.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    for (const p of [runcPod, gvPod, wasmPod]) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.podId });
      await cri.runtime.removePodSandbox({ podSandboxId: p.podId });
    }
  });
});
