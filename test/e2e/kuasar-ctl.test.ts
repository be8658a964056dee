import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../testing/deps.js";
import { logFile, podConfig, runPod, shContainer, waitForLog } from "../../testing/cri-pod.js";
import type { CriClient } from "../../testing/cri.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, type Containerd2WithKuasar, GVISOR_HANDLER, HANDLER, VMM_HANDLER, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { TeardownScope } from "../../testing/teardown-scope.js";
import { kernelReleases, VMM_TEST_CONFIG } from "../../testing/vm-pod.js";
import { wasmEchoPod } from "../../testing/wasm-echo-pod.js";

assertIsolated();

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

interface PsJson {
  sandboxes: { kind: string; id: string; state: string; pid: number; ageSecs: number; memoryBytes: number | null; containers: number }[];
  containers: { kind: string; id: string; sandboxId: string; state: string; pid: number }[];
}

interface InspectJson {
  kind: string;
  sandbox: { id: string; state: string; dir: string };
  processes: { pid: number; comm: string; cmdline: string }[];
  mounts: { mountPoint: string; fsType: string }[];
  network: { netns: string; interfaces: { name: string; addresses: string[] }[] };
}

describe("kuasar-ctl against a live kuasard serving every kind (containerd 2.x)", () => {
  // One containerd and one kuasard for every kind; each `it` is one command family or one kind's pod.
  const scope = new TeardownScope();
  let env: Containerd2WithKuasar;
  let stateDir = "";
  before(async () => {
    env = await containerd2WithKuasar(scope, ["runc", "wasm", "gvisor", "vmm"], VMM_TEST_CONFIG);
    stateDir = join(env.dir, "ks");
  });
  after(() => scope.run());

  const ctl = (...args: string[]): Ran => {
    const r = spawnSync(join(repoRoot(), "bin", "kuasar-ctl"), args, { encoding: "utf8", timeout: 120_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const json = <T>(...args: string[]): T => {
    const r = ctl(...args, "--state-dir", stateDir, "--json");
    assert.equal(r.status, 0, `kuasar-ctl ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  it("check: ready, saying why for each kind; a daemon that is not there is \"not ready\"", () => {
    const check = ctl("check", "--state-dir", stateDir, "--containerd", env.containerd.binaries.containerd, "--json");
    const report = JSON.parse(check.stdout) as { ready: boolean; checks: { area: string; name: string; ok: boolean; required: boolean; detail: string }[] };
    assert.equal(check.status, 0, JSON.stringify(report.checks.filter((c) => !c.ok)));
    assert.equal(report.ready, true);
    const found = (area: string, name: string) => report.checks.find((c) => c.area === area && c.name === name);
    assert.match(found("host", "containerd")?.detail ?? "", /containerd/);
    assert.match(found("host", "cgroups")?.detail ?? "", /cgroup (v1|v2|hybrid)/);
    for (const kind of ["runc", "wasm", "gvisor", "vmm"]) assert.equal(found(kind, "Sandbox API socket")?.ok, true, kind);
    assert.match(found("runc", "runc")?.detail ?? "", /runc version/);
    assert.match(found("gvisor", "runsc")?.detail ?? "", /runsc/);
    assert.match(found("vmm", "qemu")?.detail ?? "", /QEMU/);
    assert.ok(found("vmm", "virtiofsd")?.ok);
    assert.ok(found("vmm", "/dev/kvm"), "KVM is reported either way");
    const human = ctl("check", "--state-dir", stateDir, "--containerd", env.containerd.binaries.containerd);
    assert.match(human.stdout, /\nready\n$/);
    const absent = ctl("check", "--state-dir", join(env.dir, "nothing-here"), "--containerd", env.containerd.binaries.containerd);
    assert.equal(absent.status, 1);
    assert.match(absent.stdout, /FAIL\s+kuasard\s+admin socket .*is kuasard running/);
    assert.match(absent.stdout, /not ready\n$/);
  });

  /** ps, inspect and logs of one ready pod of `kind`. */
  const looksRight = (kind: string, podId: string, containerId: string): InspectJson => {
    const ps = json<PsJson>("ps");
    const sb = ps.sandboxes.find((s) => s.id === podId);
    assert.ok(sb, `ps lists ${podId}`);
    assert.equal(sb.kind, kind);
    assert.equal(sb.state, "ready");
    assert.ok(sb.pid > 0 && sb.ageSecs >= 0);
    assert.ok(ps.containers.some((c) => c.id === containerId && c.sandboxId === podId && c.kind === kind));
    const table = ctl("ps", "--state-dir", stateDir);
    assert.match(table.stdout, new RegExp(`^${kind}\\s+${podId}\\s+ready\\s+${sb.pid}\\s`, "m"));
    const ins = json<InspectJson>("inspect", podId);
    assert.equal(ins.kind, kind);
    assert.equal(ins.sandbox.state, "ready");
    assert.ok(ins.processes.length > 0 && ins.processes.some((p) => p.pid === sb.pid), "the pod's own process is in its tree");
    assert.notEqual(ins.network.netns, "host");
    const logs = ctl("logs", "--state-dir", stateDir, podId, "--json");
    assert.equal(logs.status, 0, logs.stderr);
    assert.match(logs.stderr, /log file/);
    const lines = logs.stdout.trim().split("\n").map((l) => JSON.parse(l) as { sandbox_id: string; msg: string; kind?: string });
    assert.ok(lines.every((l) => l.sandbox_id === podId), "only this pod's lines");
    assert.ok(lines.some((l) => l.msg === "pod started" && l.kind === kind), "its lifecycle line");
    return ins;
  };
  const removed = async (podId: string) => {
    const { cri } = env;
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.ok(!json<PsJson>("ps").sandboxes.some((s) => s.id === podId));
    assert.match(ctl("logs", "--state-dir", stateDir, podId).stdout, / info  pod removed .*kind=/);
  };
  const runOne = async (c: CriClient, handler: string, name: string) => {
    const cfg = podConfig(name, join(env.dir, "logs", name));
    const sh = shContainer("sh", "echo up; exec sleep 100000");
    const { podId, ids } = await runPod(c, handler, cfg, [sh]);
    await waitForLog(logFile(cfg, sh), "up", 120_000);
    return { podId, containerId: ids[0]! };
  };

  it("runc: ps, inspect and logs of the pod; exec enters the container (its hostname, its rootfs, its exit status); unknown pods and containers are named", async () => {
    {
      const { podId, containerId } = await runOne(env.cri, HANDLER, "ctl-runc");
      const ins = looksRight("runc", podId, containerId);
      assert.ok(ins.processes.some((p) => p.comm === "kuasar-holder"));
      assert.ok(ins.processes.some((p) => p.cmdline === "sleep 100000"));
      assert.ok(ins.mounts.some((m) => m.mountPoint.startsWith(ins.sandbox.dir)), "the pod's shm mount");
      assert.ok(ins.network.interfaces.some((i) => i.name === "eth0" && i.addresses.some((a) => a.startsWith("192.0.2."))), JSON.stringify(ins.network));
      const ex = ctl("exec", "--state-dir", stateDir, podId, "--", "sh", "-c", "cat /etc/hostname; test -e /bin/busybox && echo in-rootfs; exit 3");
      assert.deepEqual([ex.status, ex.stdout], [3, "ctl-runc\nin-rootfs\n"]);
      const json1 = JSON.parse(ctl("exec", "--state-dir", stateDir, "--json", podId, "--", "echo", "j").stdout) as { status: number; stdout: string };
      assert.deepEqual(json1, { status: 0, stdout: "j\n", stderr: "" });
      const missing = ctl("exec", "--state-dir", stateDir, "no-such-pod", "--", "true");
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /sandbox no-such-pod not found/);
      const badContainer = ctl("exec", "--state-dir", stateDir, "--container", "nope", podId, "--", "true");
      assert.match(badContainer.stderr, /container nope: no running container/);
      await removed(podId);
    }
  });

  it("wasm: exec is refused, clearly; ps and inspect list the pod", async (t) => {
    const { cri } = env;
    await wasmEchoPod(t, {
      cri,
      containerd: env.containerd,
      handler: WASM_HANDLER,
      logDir: join(env.dir, "logs", "wasm"),
      arg: "ctl",
      afterExit: () => {
        const pod = json<PsJson>("ps").sandboxes.find((s) => s.kind === "wasm");
        assert.ok(pod, "ps lists the wasm pod");
        const ex = ctl("exec", "--state-dir", stateDir, pod.id, "--", "sh");
        assert.equal(ex.status, 1);
        assert.match(ex.stderr, /wasm pods cannot be exec'd into/);
        assert.equal(json<InspectJson>("inspect", pod.id).kind, "wasm");
      },
    });
  });

  it("gvisor: ps, inspect and logs of the pod; exec runs in the sandbox (gVisor's kernel, not the host's) with its exit status", async () => {
    {
      const { podId, containerId } = await runOne(env.cri, GVISOR_HANDLER, "ctl-gvisor");
      looksRight("gvisor", podId, containerId);
      const ex = ctl("exec", "--state-dir", stateDir, "--container", containerId, podId, "--", "cat", "/proc/version");
      assert.equal(ex.status, 0, ex.stderr);
      assert.notEqual(ex.stdout.trim(), readFileSync("/proc/version", "utf8").trim());
      assert.equal(ctl("exec", "--state-dir", stateDir, podId, "--", "sh", "-c", "exit 4").status, 4);
      await removed(podId);
    }
  });

  it("vmm: ps, inspect and logs of the pod (QEMU in its tree); exec goes through the guest's agent and the guest kernel answers", async () => {
    {
      const { podId, containerId } = await runOne(env.cri, VMM_HANDLER, "ctl-vmm");
      const ins = looksRight("vmm", podId, containerId);
      assert.ok(ins.processes.some((p) => /qemu/.test(p.comm)), JSON.stringify(ins.processes.map((p) => p.comm)));
      const ex = ctl("exec", "--state-dir", stateDir, podId, "--", "uname", "-r");
      assert.deepEqual([ex.status, ex.stdout.trim()], [0, kernelReleases().guest]);
      await removed(podId);
    }
  });
});
