import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { parseRunscStats, RunscCli, runscError, type RunscNetwork, type RunscOptions, type RunscTarget } from "../../../src/sandboxers/gvisor/runsc-cli.js";

const options = (over: Partial<RunscOptions> = {}): RunscOptions => ({
  binary: "/usr/bin/runsc",
  platform: "ptrace",
  network: "host",
  debugLogDir: "",
  extraFlags: [],
  commandTimeoutMs: 10_000,
  ...over,
});

const pod = (network: RunscNetwork = "host"): RunscTarget => ({ root: "/r", network, platform: "ptrace", netns: undefined });

describe("runsc CLI", () => {
  it("puts the global flags before every subcommand", () => {
    const r = new RunscCli(options({ extraFlags: ["--overlay2=root:memory"] }));
    assert.deepEqual(r.createArgv(pod(), "c1", "/b", "/b/pid"), [
      "/usr/bin/runsc", "--root", "/r", "--platform=ptrace", "--network=host", "--overlay2=root:memory", "create", "--bundle", "/b", "--pid-file", "/b/pid", "c1",
    ]);
    assert.deepEqual(r.startArgv(pod("none"), "c1").slice(1), ["--root", "/r", "--platform=ptrace", "--network=none", "--overlay2=root:memory", "start", "c1"]);
    assert.deepEqual(r.waitArgv(pod(), "c1").slice(-2), ["wait", "c1"]);
  });

  it("runs a pod's root container detached in one command, its sandbox pid to the pid file", () => {
    const r = new RunscCli(options({ extraFlags: ["--overlay2=root:memory"] }));
    assert.deepEqual(r.runArgv(pod("sandbox"), "_p1", "/b", "/b/pid"), [
      "/usr/bin/runsc", "--root", "/r", "--platform=ptrace", "--network=sandbox", "--overlay2=root:memory", "run", "--detach", "--bundle", "/b", "--pid-file", "/b/pid", "_p1",
    ]);
  });

  it("runs a container joining the sandbox detached in one command, without a pid file", () => {
    const r = new RunscCli(options());
    assert.deepEqual(r.runArgv(pod(), "c1", "/b").slice(5), ["run", "--detach", "--bundle", "/b", "c1"]);
  });

  it("builds an attached exec that records the in-sandbox pid", () => {
    const r = new RunscCli(options());
    assert.deepEqual(r.execArgv(pod(), "c1", "/e.json", "/e.ipid").slice(5), ["exec", "--process", "/e.json", "--internal-pid-file", "/e.ipid", "c1"]);
    assert.equal(r.execArgv(pod(), "c1", "/e.json", "/e.ipid").includes("--detach"), false);
  });

  it("asks runsc for per-command debug logs in a directory", () => {
    const r = new RunscCli(options({ debugLogDir: "/tmp" }));
    assert.ok(r.globalArgs(pod()).includes("--debug-log=/tmp/"));
  });

  it("maps runsc's error text to status codes", () => {
    assert.equal(runscError("state", 'loading container "c9": file does not exist').code, Code.NotFound);
    assert.equal(runscError("ps", "cannot get processes of container \"c1\" in state stopped").code, Code.NotFound);
    assert.equal(runscError("create", "container with id c1 already exists").code, Code.AlreadyExists);
    assert.equal(runscError("x", "boom").code, Code.Unknown);
  });

  it("reports a missing runsc binary as FailedPrecondition", async () => {
    const r = new RunscCli(options({ binary: "/nonexistent/runsc" }));
    await assert.rejects(r.state(pod(), "c1"), { code: Code.FailedPrecondition, message: /runsc binary .* not found/ });
  });

  it("reads `runsc events --stats` as cgroup-style stats", () => {
    const line = '{"type":"stats","id":"p","data":{"cpu":{"usage":{"total":333719258}},"memory":{"usage":{"limit":0,"usage":2027520,"failcnt":0}},"pids":{"current":3}}}\n';
    const s = parseRunscStats(line, 1);
    assert.equal(s.version, 1);
    assert.equal(parseRunscStats(line, 2).version, 2);
    assert.equal(s.cpuUsageNs, 333719258n);
    assert.equal(s.memoryUsageBytes, 2027520n);
    assert.equal(s.pidsCurrent, 3n);
    assert.equal(s.memoryLimitBytes, 0n);
  });
});
