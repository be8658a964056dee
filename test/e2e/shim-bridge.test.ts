import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { BUSYBOX_IMAGE } from "../../testing/busybox-image.js";
import { shimProcesses } from "../../testing/cri.js";
import { decodeOut } from "../../testing/cri-pod.js";
import { repoRoot } from "../../testing/deps.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd17WithKuasar, HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { assertHolder, holderOf, HTTPD_SERVER, podScenario } from "../../testing/pod-scenario.js";

assertIsolated();

const run = promisify(execFile);

/** Runs the launcher as containerd does: stdin holds the runtime options, here none (EOF at once). */
function launch(args: string[], opts: { cwd: string; env: Record<string, string> }) {
  const p = run(join(repoRoot(), "bin", "containerd-shim-kuasar-v1"), args, opts);
  p.child.stdin?.end();
  return p;
}
const RUNTIME = "io.containerd.kuasar.v1";

describe("shim bridge: containerd-shim-kuasar-v1 under stock containerd 1.7", () => {
  it("start prints the bridge's address using shell builtins only (no node on the start path)", async () => {
    const dir = mkdtempSync("/tmp/kshim-");
    const sock = join(dir, "shim.sock");
    const server = createServer().listen(sock);
    await new Promise((r) => server.once("listening", r));
    try {
      const bundle = join(dir, "bundle");
      await run("mkdir", [bundle]);
      // PATH is empty: a launcher that tried to start node (or anything else) would fail.
      const r = await launch(["-namespace", "k8s.io", "-address", "/run/x/containerd.sock", "-publish-binary", "/usr/bin/containerd", "-id", "t1", "-debug", "start"], {
        cwd: bundle,
        env: { PATH: "", KUASAR_SHIM_SOCKET: sock, TTRPC_ADDRESS: "/run/x/containerd.sock.ttrpc", GRPC_ADDRESS: "/run/x/containerd.sock", NAMESPACE: "k8s.io" },
      });
      assert.equal(r.stdout, `unix://${sock}\n`);
      assert.equal(readFileSync(join(bundle, "address"), "utf8"), `unix://${sock}`);
      // delete after a normal teardown (the bridge left its marker): an empty DeleteResponse, still no node.
      writeFileSync(join(bundle, "kuasar-deleted"), "");
      const del = await launch(["-namespace", "k8s.io", "-address", "/run/x/containerd.sock", "-id", "t1", "-bundle", bundle, "delete"], { cwd: bundle, env: { PATH: "", KUASAR_SHIM_SOCKET: sock } });
      assert.equal(del.stdout, "");
      // A missing bridge is a clear error, not a hang.
      const bad = await launch(["-id", "t2", "start"], { cwd: bundle, env: { PATH: "", KUASAR_SHIM_SOCKET: join(dir, "nope.sock") } }).catch((e: { code: number; stderr: string }) => e);
      assert.equal((bad as { code: number }).code, 1);
      assert.match((bad as { stderr: string }).stderr, /no kuasar shim bridge at/);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ctr run/exec/kill/ps/metrics and a terminal work through the bridge", async (t) => {
    const env = await containerd17WithKuasar(t);
    const c = env.containerd;
    const r = await c.ctr(["run", "--rm", "--runtime", RUNTIME, BUSYBOX_IMAGE, "t1", "sh", "-c", "echo hi; exit 3"], { allowFailure: true });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "hi\n");

    await c.ctr(["run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, "t2", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    const ex = await c.ctr(["task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo from-exec; exit 5"], { allowFailure: true });
    assert.equal(ex.code, 5, ex.stderr);
    assert.equal(ex.stdout, "from-exec\n");
    const ps = await c.ctr(["task", "ps", "t2"]);
    assert.match(ps.stdout, /^\d+\s/m);
    const metrics = await c.ctr(["task", "metrics", "t2"]);
    assert.match(metrics.stdout, /memory\.usage_in_bytes|memory\.usage|pids\.current/);
    await c.ctr(["task", "kill", "t2"]);
    for (let i = 0; i < 100 && !(await c.ctr(["task", "ls"])).stdout.includes("STOPPED"); i++) await new Promise((res) => setTimeout(res, 50));
    assert.match((await c.ctr(["task", "ls"])).stdout, /t2\s+\d+\s+STOPPED/);
    await c.ctr(["task", "delete", "t2"]);
    await c.ctr(["container", "delete", "t2"]);

    // A terminal: script(1) gives ctr a pty of its own.
    const ctrCmd = `${c.binaries.ctr} --address ${c.address} run -t --rm --runtime ${RUNTIME} ${BUSYBOX_IMAGE} t3 sh -c 'tty; exit 4'`;
    const tty = await run("script", ["-qec", ctrCmd, "/dev/null"], { env: { PATH: process.env["PATH"] ?? "" } }).catch((e: { code: number; stdout: string }) => e);
    assert.equal((tty as { code: number }).code, 4);
    assert.match((tty as { stdout: string }).stdout, /\/dev\/pts\/\d+/);
    assert.deepEqual(await shimProcesses(), []);
  });

  it("runs a CRI pod with no pause container: localhost, IPC, ExecSync, logs, graceful stop, removal", async (t) => {
    const env = await containerd17WithKuasar(t);
    await podScenario({
      cri: env.cri,
      handler: HANDLER_17,
      name: "web17",
      logDir: `${env.dir}/logs/web17`,
      server: HTTPD_SERVER,
      serverSetup: "echo ipc-token > /dev/shm/token",
      whileRunning: async ({ podId, clientId }) => {
        // The sandbox task's pid is our pod holder (or its pod-init): no pause process runs.
        assertHolder(holderOf((await env.cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info));
        assert.equal((await env.containerd.ctr(["task", "ls"], { namespace: "k8s.io" })).stdout.includes("pause"), false);
        // IPC: the pod's containers share /dev/shm.
        assert.equal(decodeOut((await env.cri.runtime.execSync({ containerId: clientId, cmd: ["cat", "/dev/shm/token"], timeout: 10n })).stdout), "ipc-token\n");
      },
    });
  });
});
