import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { EventForwarder } from "../../src/containerd/event-forwarder.js";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { silentLogger } from "../../src/log/logger.js";
import type { CreateTaskSpec, ExitInfo, TaskBackend } from "../../src/task/task-backend.js";
import { serveTaskApi } from "../../src/task/task-service.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { BUSYBOX_IMAGE, importBusybox } from "../../testing/busybox-image.js";
import { startContainerd } from "../../testing/containerd.js";
import { assertIsolated } from "../../testing/isolation.js";

assertIsolated();

/**
 * A scripted task backend: not a runtime, just enough of one for containerd's own
 * Go ttrpc client to drive a whole `ctr run` through our ttrpc server and Task adapter.
 */
class ScriptedTask implements Partial<TaskBackend> {
  readonly calls: string[] = [];
  created: CreateTaskSpec | undefined;
  private exit: ExitInfo | undefined;
  private exited: Promise<ExitInfo>;
  private finish!: (e: ExitInfo) => void;

  constructor(
    private readonly output: string,
    private readonly exitStatus: number,
  ) {
    this.exited = new Promise((r) => (this.finish = r));
  }

  async create(spec: CreateTaskSpec) {
    this.calls.push("create");
    this.created = spec;
    return { pid: 4242 };
  }
  async start(_id: string, _execId: string) {
    this.calls.push("start");
    // Behave like a process: write to the FIFOs containerd gave us, close them, exit.
    for (const [path, text] of [[this.created!.stdio.stdout, this.output], [this.created!.stdio.stderr, ""]] as const) {
      if (!path) continue;
      const fd = openSync(path, "w");
      if (text) writeSync(fd, text);
      closeSync(fd);
    }
    setTimeout(() => {
      this.exit = { pid: 4242, exitStatus: this.exitStatus, exitedAt: new Date() };
      this.finish(this.exit);
    }, 50);
    return { pid: 4242 };
  }
  async wait() {
    this.calls.push("wait");
    return this.exited;
  }
  async state(id: string, execId: string) {
    return {
      containerId: id,
      execId,
      bundle: this.created?.bundle ?? "",
      pid: 4242,
      state: this.exit ? ("stopped" as const) : ("running" as const),
      stdio: this.created!.stdio,
      exitStatus: this.exit?.exitStatus ?? 0,
      exitedAt: this.exit?.exitedAt,
    };
  }
  async connect() {
    this.calls.push("connect");
    return { taskPid: 4242, serverPid: process.pid };
  }
  async delete() {
    this.calls.push("delete");
    if (!this.exit) throw new RuntimeError(Code.FailedPrecondition, "still running");
    return this.exit;
  }
  async kill() {
    this.calls.push("kill");
    if (this.exit) throw new RuntimeError(Code.NotFound, "process already finished");
  }
  async shutdown() {
    this.calls.push("shutdown");
  }
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "interop-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("ttrpc interop with real containerd", () => {
  for (const version of ["1.7", "2"] as const) {
    it(`containerd ${version}'s Go ttrpc client drives ctr run through our server: output and exit code 42 come back`, async (t) => {
      const dir = tempDir(t);
      const socket = join(dir, "task.sock");
      // A shim binary that only points containerd at our already-running server.
      const shim = join(dir, "containerd-shim-interop-v1");
      writeFileSync(
        shim,
        `#!/bin/sh
for last; do :; done
case "$last" in
  start) printf 'unix://%s' "$INTEROP_SOCKET" > address; printf 'unix://%s' "$INTEROP_SOCKET" ;;
  delete) ;;
esac
`,
      );
      chmodSync(shim, 0o755);
      const backend = new ScriptedTask("hello over ttrpc\n", 42);
      const server = new TtrpcServer();
      const namespaces: string[] = [];
      // Methods ctr run never calls are absent; a call to one would fail the test with Unknown.
      serveTaskApi(server, backend as unknown as TaskBackend, (md) => {
        const ns = md.get("containerd-namespace-ttrpc")?.[0] ?? "";
        namespaces.push(ns);
        return ns;
      });
      await server.listen(socket);
      t.after(() => server.destroy());

      const c = await startContainerd({ version, env: { INTEROP_SOCKET: socket } });
      t.after(() => c.stop());
      await importBusybox(c, "default");
      const id = `interop-${version.replace(".", "")}`;
      const r = await c.ctr(["run", "--rm", "--runtime", shim, BUSYBOX_IMAGE, id, "true"], { allowFailure: true, timeoutMs: 60_000 });
      assert.equal(r.code, 42, `ctr run: ${r.stdout} ${r.stderr}`);
      assert.equal(r.stdout, "hello over ttrpc\n");
      assert.deepEqual(backend.calls.filter((x) => x !== "kill").slice(0, 2), ["create", "connect"]);
      for (const call of ["start", "wait", "delete"]) assert.ok(backend.calls.includes(call), `${call} in ${backend.calls.join(",")}`);
      assert.ok(backend.created!.bundle.endsWith(`/default/${id}`), backend.created!.bundle);
      assert.ok(backend.created!.rootfs.length > 0, "snapshot mounts passed in Create");
      assert.match(backend.created!.stdio.stdout, /-stdout$/);
      // Namespace metadata is optional on ctr's calls (protocols.md §2.3); when present it is right.
      assert.ok(namespaces.every((ns) => ns === "" || ns === "default"), namespaces.join(","));
    });
  }

  it("our ttrpc client forwards a TaskExit to containerd 1.7 and `ctr events` sees it", async (t) => {
    const c = await startContainerd({ version: "1.7" });
    t.after(() => c.stop());
    const events = spawn(c.binaries.ctr, ["--address", c.address, "events"], { stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => events.kill("SIGKILL"));
    let out = "";
    events.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));

    const fwd = new EventForwarder({ address: c.ttrpcAddress }, silentLogger());
    t.after(() => fwd.destroy());
    // The subscription starts asynchronously: publish probes until one shows up.
    for (let i = 0; !out.includes("probe-") && i < 100; i++) {
      fwd.publish("default", { kind: "oom", containerId: `probe-${i}` });
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /\/tasks\/oom/);
    const exitedAt = new Date("2026-01-02T03:04:05.678Z");
    fwd.publish("interop", { kind: "exit", containerId: "c-exit", id: "exec-7", pid: 31337, exitStatus: 137, exitedAt });
    await fwd.close();
    for (let i = 0; !out.includes("c-exit") && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    const line = out.split("\n").find((l) => l.includes("c-exit"));
    assert.ok(line, `ctr events printed:\n${out}`);
    assert.match(line, / interop \/tasks\/exit /);
    const json = JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>;
    assert.equal(json["container_id"], "c-exit");
    assert.equal(json["id"], "exec-7");
    assert.equal(json["pid"], 31337);
    assert.equal(json["exit_status"], 137);
    assert.match(JSON.stringify(json["exited_at"]), /2026-01-02T03:04:05\.678|"seconds":1767323045/);
  });
});
