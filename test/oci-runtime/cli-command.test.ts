import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { runCliCommand } from "../../src/oci-runtime/cli-command.js";
import { isAlive } from "../../src/pod/pod.js";
import { waitForPath } from "../../src/fs/wait-for-path.js";

describe("runCliCommand: the caller's signal", () => {
  it("a command whose caller gives up is killed and the call fails with the caller's reason", async (t) => {
    const dir = mkdtempSync("/tmp/cli-abort-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, "pid");
    const caller = new AbortController();
    // A stand-in for a runc that hangs: it says who it is, then sleeps.
    const run = runCliCommand("runc", "/bin/sh", ["-c", `echo $$ > ${pidFile}.new && mv ${pidFile}.new ${pidFile} && exec sleep 1000`], [], 60_000, undefined, caller.signal);
    await waitForPath(pidFile, { timeoutMs: 10_000 });
    const pid = Number(readFileSync(pidFile, "utf8"));
    caller.abort(new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded"));
    await assert.rejects(run, { code: Code.DeadlineExceeded, message: /context deadline exceeded/ });
    assert.equal(isAlive(pid), false, "the command was killed and reaped");
  });

  it("a caller already gone runs nothing", async () => {
    await assert.rejects(runCliCommand("runc", "/nonexistent/runc", [], ["state", "x"], 1000, undefined, AbortSignal.abort(new RuntimeError(Code.Canceled, "gone"))), { code: Code.Canceled });
  });
});
