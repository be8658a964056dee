import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { ContainerState, PodSandboxState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { BUSYBOX_IMAGE } from "../harness/busybox-image.js";
import { shimProcesses } from "../harness/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../harness/cri-pod.js";
import { repoRoot } from "../harness/deps.js";
import { assertIsolated } from "../harness/isolation.js";
import { containerd17WithKuasar, HANDLER_17 } from "../harness/kuasar-containerd17.js";

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
    const { cri } = env;
    const cfg = podConfig("web17", `${env.dir}/logs/web17`);
    const server = shContainer("server", "echo started; echo hello-localhost > /tmp/index.html; echo ipc-token > /dev/shm/token; exec httpd -f -p 127.0.0.1:8080 -h /tmp");
    const client = shContainer("client", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
    const { podId, ids } = await runPod(cri, HANDLER_17, cfg, [server, client]);
    const [serverId, clientId] = ids as [string, string];
    const pod = await cri.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY);
    // The sandbox task's pid is our pod holder (or its pod-init, the pid 1 of the pod's
    // pid namespace, when the sandbox spec asks for one): no pause process runs.
    const sandboxPid = (JSON.parse(pod.info["info"] ?? "{}") as { pid?: number }).pid ?? 0;
    assert.ok(sandboxPid > 0);
    const comm = (pid: number | string) => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    const ppid = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]!;
    const holder = comm(sandboxPid) === "pod-init" ? Number(ppid(sandboxPid)) : sandboxPid;
    assert.equal(comm(holder), "kuasar-holder");
    assert.equal((await env.containerd.ctr(["task", "ls"], { namespace: "k8s.io" })).stdout.includes("pause"), false);
    assert.deepEqual(await shimProcesses(), []);

    await waitForLog(logFile(cfg, server), "stdout F started");
    let got = "";
    for (let i = 0; i < 50 && !got.includes("hello-localhost"); i++) {
      got = decodeOut((await cri.runtime.execSync({ containerId: clientId, cmd: ["wget", "-qO-", "http://127.0.0.1:8080/index.html"], timeout: 10n })).stdout);
      if (!got) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got, "hello-localhost\n");
    assert.equal(decodeOut((await cri.runtime.execSync({ containerId: clientId, cmd: ["cat", "/dev/shm/token"], timeout: 10n })).stdout), "ipc-token\n");
    const ex = await cri.runtime.execSync({ containerId: clientId, cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout: 10n });
    assert.deepEqual([decodeOut(ex.stdout), decodeOut(ex.stderr), ex.exitCode], ["out\n", "err\n", 3]);

    await cri.runtime.stopContainer({ containerId: clientId, timeout: 10n });
    assert.equal((await waitExited(cri, clientId)).exitCode, 0);
    await waitForLog(logFile(cfg, client), "stdout F bye");
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    assert.equal((await cri.runtime.containerStatus({ containerId: serverId })).status?.state, ContainerState.CONTAINER_EXITED);
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
    assert.equal((await cri.runtime.listPodSandbox({})).items.length, 0);
    assert.deepEqual(await shimProcesses(), []);
  });
});
