import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { isUnifiedOnly } from "../../src/cgroup/cgroup-stats.js";
import { hybridWithV2Controllers } from "../../src/oci-runtime/cgroup-layout.js";
import { privateDepsDir } from "../../src/fs/private-deps.js";
import { decodeOut } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { startSandboxer } from "../../testing/kuasard.js";
import { censusDiff, takeCensus, type CensusScope } from "../../testing/leak-census.js";
import { loneRuncSandboxer } from "../../testing/lone-sandboxer.js";
import { HTTPD_SERVER, podScenario, warmUpPod, type ScenarioPod } from "../../testing/pod-scenario.js";
import type { CriClient } from "../../testing/cri.js";

assertIsolated();

// Appended to the [sandboxers.runc] table the environments write (it is their last table).
const CRUN = 'runtime = "crun"\n';

/** The census difference without other runs' cgroups: only those named after this pod's ids count. */
function ours(diff: ReturnType<typeof censusDiff>, ids: readonly string[]): ReturnType<typeof censusDiff> {
  const cgroups = (diff.cgroups ?? []).filter((c) => ids.some((id) => c.includes(id)));
  const { cgroups: _all, ...rest } = diff;
  return cgroups.length > 0 ? { ...rest, cgroups } : rest;
}

/** The sandbox Status info: under 2.x, CRI passes on the sandbox controller's own map. */
async function runtimeInfo(cri: CriClient, podId: string): Promise<string> {
  return JSON.stringify((await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info);
}

/**
 * While the pod runs: its containers are crun's (crun keeps a `status` file per container in
 * its state root, runc a `state.json`), and on a hybrid host with cgroup2 controllers crun
 * put them in the v1 memory controller (the cgroup2 mount hidden from it).
 */
function assertRunByCrun(runtimeRoot: string, pod: ScenarioPod): void {
  for (const id of pod.ids) {
    assert.ok(existsSync(join(runtimeRoot, id, "status")), `crun's state of ${id} under ${runtimeRoot}`);
    assert.ok(!existsSync(join(runtimeRoot, id, "state.json")), `no runc state of ${id}`);
  }
}

describe("runc sandboxer with runtime = \"crun\"", () => {
  it("passes the pod scenario under stock containerd 2.x, Status naming crun; nothing left", async (t) => {
    assert.ok(existsSync(join(privateDepsDir("crun"), "usr/bin/crun")), "crun from packaging/install-deps.sh");
    const env = await containerd2WithKuasar(t, ["runc"], CRUN);
    const logDir = join(env.dir, "logs");
    await warmUpPod(env.cri, HANDLER, logDir);
    const scope: CensusScope = { dirs: [env.sandboxerDir], fdPids: [env.sandboxer.pid, env.endpointPid] };
    const before = takeCensus(scope);
    const pod = await podScenario({
      cri: env.cri,
      handler: HANDLER,
      name: "crun2",
      logDir: join(logDir, "web"),
      server: HTTPD_SERVER,
      whileRunning: async (p) => {
        const info = await runtimeInfo(env.cri, p.podId);
        assert.match(info, /"oci_runtime":"crun"/);
        if (hybridWithV2Controllers()) assert.match(info, /cgroup2 mount hidden/);
        assertRunByCrun(join(env.sandboxerDir, "runc"), p);
        assert.match(env.sandboxer.logs(), /"msg":"OCI runtime chosen"/);
        // UpdateContainerResources goes through crun update (and its launchers) to the container's cgroup.
        await env.cri.runtime.updateContainerResources({ containerId: p.serverId, linux: { memoryLimitInBytes: 96n << 20n } });
        const file = isUnifiedOnly() ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";
        const limit = await env.cri.runtime.execSync({ containerId: p.serverId, cmd: ["cat", file], timeout: 10n });
        assert.equal(decodeOut(limit.stdout).trim(), String(96 << 20));
      },
    });
    assert.deepEqual(ours(censusDiff(before, takeCensus(scope)), [pod.podId, ...pod.ids]), {});
  });

  it("passes the pod scenario under stock containerd 1.7 (shim bridge), Status naming crun; nothing left", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc"], CRUN);
    const logDir = join(env.dir, "logs");
    await warmUpPod(env.cri, HANDLER_17, logDir);
    const stateDir = join(env.dir, "kr");
    const scope: CensusScope = { dirs: [stateDir], fdPids: [env.kuasard.pid, env.endpointPid] };
    const before = takeCensus(scope);
    const pod = await podScenario({
      cri: env.cri,
      handler: HANDLER_17,
      name: "crun17",
      logDir: join(logDir, "web"),
      server: HTTPD_SERVER,
      whileRunning: async (p) => {
        // CRI 1.7 shows its own pause-task info; the sandboxer's Status is on its Sandbox API socket.
        const api = new GrpcClient(join(env.dir, "runc.sock"), { namespace: "k8s.io" });
        try {
          const info = (await api.service(Controller).status({ sandboxId: p.podId, verbose: true })).info;
          assert.equal(info["oci_runtime"], "crun");
        } finally {
          api.close();
        }
        assertRunByCrun(join(stateDir, "runc"), p);
      },
    });
    assert.deepEqual(ours(censusDiff(before, takeCensus(scope)), [pod.podId, ...pod.ids]), {});
  });
});

describe("runc sandboxer: a runtime that cannot run containers here", () => {
  it("falls back to runc when the configured runtime fails its probe: warning logged, Status says why, pods run", async (t) => {
    // /bin/false is executable and answers every command with a failure: the probe's create fails.
    const { api, sandboxer } = await loneRuncSandboxer(t, { prefix: "kc-", extraToml: '[sandboxers.runc]\nruntime = "/bin/false"\n' });
    assert.match(sandboxer.logs(), /"level":"warn",.*"msg":"OCI runtime falls back to runc"/);
    await api.create({ sandboxId: "p1" });
    await api.start({ sandboxId: "p1" });
    const info = (await api.status({ sandboxId: "p1" })).info;
    assert.equal(info["oci_runtime"], "runc");
    assert.equal(info["oci_runtime_binary"], "/usr/sbin/runc");
    assert.match(info["oci_runtime_reason"] ?? "", /^false failed its probe \(as it is: create: exit status 1.*\); runc used$/);
    await api.stop({ sandboxId: "p1" });
    await api.shutdown({ sandboxId: "p1" });
  });

  for (const [runtime, message] of [
    ["/nonexistent/crun", /config sandboxers\.runc\.runtime: \/nonexistent\/crun not found or not executable/],
    ["kata", /config sandboxers\.runc\.runtime: expected \\"runc\\", \\"crun\\" or an absolute path, got \\"kata\\"/],
  ] as const) {
    it(`refuses to start with runtime = ${JSON.stringify(runtime)}, naming the key, before serving anything`, async () => {
      const dir = mkdtempSync("/tmp/kc-");
      try {
        writeFileSync(join(dir, "config.toml"), `[sandboxers.runc]\nruntime = "${runtime}"\n`);
        const s = startSandboxer({ program: "runc-sandboxer", listen: join(dir, "runc.sock"), dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args: ["--state-dir", join(dir, "ks"), "--config", join(dir, "config.toml")] });
        await assert.rejects(s.ready, message);
        assert.ok(!existsSync(join(dir, "runc.sock")), "no Sandbox API socket");
        assert.match(readFileSync(s.logPath, "utf8"), /"msg":"kuasard failed to start"/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("refuses to start when runc itself is missing (the fallback too), not at the first pod", async () => {
    const dir = mkdtempSync("/tmp/kc-");
    try {
      writeFileSync(join(dir, "config.toml"), '[sandboxers.runc]\nruntime = "/bin/false"\nrunc_binary = "/nonexistent/runc"\n');
      const s = startSandboxer({ program: "runc-sandboxer", listen: join(dir, "runc.sock"), dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args: ["--state-dir", join(dir, "ks"), "--config", join(dir, "config.toml")] });
      await assert.rejects(s.ready, /runc binary \\"\/nonexistent\/runc\\" not found or not executable/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
