import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { defaultRuncOptions, RuncCli, extractMessage, runcError } from "../../../src/sandboxers/runc/runc-cli.js";

describe("runc CLI", () => {
  it("maps runc's error text to status codes", () => {
    assert.equal(runcError("state", 'time="x" level=error msg="container \\"c1\\" does not exist"').code, Code.NotFound);
    assert.equal(runcError("create", '{"level":"error","msg":"container with id exists: c1 already exists"}').code, Code.AlreadyExists);
    assert.equal(runcError("kill", "container not running").code, Code.NotFound);
    assert.equal(runcError("x", "boom").code, Code.Unknown);
  });

  it("keeps only the message of runc's log line", () => {
    assert.equal(extractMessage('time="2026" level=error msg="container \\"a\\" does not exist"\n'), 'container "a" does not exist');
    assert.equal(extractMessage('{"level":"error","msg":"oops","time":"t"}'), "oops");
  });

  it("builds create and exec argv with the configured root", () => {
    const r = new RuncCli({ ...defaultRuncOptions, binary: "/usr/sbin/runc", root: "/r" });
    assert.deepEqual(r.createArgv("c1", "/b", "/b/init.pid", "/b/runc.log"), [
      "/usr/sbin/runc", "--root", "/r", "--log", "/b/runc.log", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "c1",
    ]);
    assert.deepEqual(r.execArgv("c1", "/p.json", "/e.pid", "/e.log", "/con.sock").slice(7), ["exec", "--detach", "--process", "/p.json", "--pid-file", "/e.pid", "--console-socket", "/con.sock", "c1"]);
  });

  it("puts the launcher (a loader, the cgroup2 hider) before the binary, for the holder's argv and its own commands", async () => {
    const r = new RuncCli({ ...defaultRuncOptions, binary: "/usr/sbin/runc", root: "/r", launcher: ["/hide", "/ld.so", "--library-path", "/lib"] });
    assert.deepEqual(r.createArgv("c1", "/b", "/p", "/l").slice(0, 7), ["/hide", "/ld.so", "--library-path", "/lib", "/usr/sbin/runc", "--root", "/r"]);
    assert.deepEqual(r.execArgv("c1", "/p.json", "/e.pid", "/e.log").slice(0, 5), ["/hide", "/ld.so", "--library-path", "/lib", "/usr/sbin/runc"]);
    // A launcher that prints the argv it was given as a JSON list: `ps` parses it.
    const echo = new RuncCli({ ...defaultRuncOptions, binary: "/usr/sbin/runc", root: "/r", launcher: ["/bin/sh", "-c", `printf '["%s"' "$1"; shift; for a; do printf ',"%s"' "$a"; done; echo ']'`, "sh"] });
    assert.deepEqual(await echo.ps("c1"), ["/usr/sbin/runc", "--root", "/r", "ps", "--format", "json", "c1"]);
  });

  it("passes update's resources in a file (crun cannot open /dev/stdin on a socket), removed afterwards", async () => {
    const out = mkdtempSync(join(tmpdir(), "runc-cli-"));
    try {
      // Stands in for the runtime: copies the file after --resources, and says what it was.
      const script = `while [ "$1" != --resources ]; do shift; done; cp "$2" ${out}/got.json; echo "$2" > ${out}/path`;
      const r = new RuncCli({ ...defaultRuncOptions, binary: "/usr/sbin/runc", root: "/r", launcher: ["/bin/sh", "-c", script, "sh"] });
      await r.update("c1", { memory: { limit: 1024 } });
      assert.deepEqual(JSON.parse(readFileSync(join(out, "got.json"), "utf8")), { memory: { limit: 1024 } });
      assert.ok(!existsSync(readFileSync(join(out, "path"), "utf8").trim()), "the file is gone");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("reports a missing runc binary as FailedPrecondition", async () => {
    const r = new RuncCli({ ...defaultRuncOptions, binary: "/nonexistent/runc" });
    await assert.rejects(r.state("c1"), { code: Code.FailedPrecondition, message: /runc binary .* not found/ });
  });
});
