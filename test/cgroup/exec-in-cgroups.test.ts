import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execInCgroups } from "../../src/cgroup/exec-in-cgroups.js";

describe("execInCgroups", () => {
  it("writes its own pid into every dir's cgroup.procs, then execs the program as that same pid", (t) => {
    const dirs = [mkdtempSync("/tmp/eic-a-"), mkdtempSync("/tmp/eic-b-")];
    t.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
    for (const d of dirs) writeFileSync(join(d, "cgroup.procs"), "");
    const argv = execInCgroups(dirs, ["/bin/sh", "-c", "echo $$; echo \"$1\"", "prog", "arg with spaces"]);
    const [pid, arg] = execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8" }).trim().split("\n");
    assert.equal(arg, "arg with spaces");
    for (const d of dirs) assert.equal(readFileSync(join(d, "cgroup.procs"), "utf8").trim(), pid);
  });

  it("fails the start (status 125, program never run) when a dir refuses the pid", (t) => {
    const dir = mkdtempSync("/tmp/eic-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const marker = join(dir, "ran");
    const argv = execInCgroups([join(dir, "missing")], ["/bin/sh", "-c", `touch ${marker}`]);
    assert.equal(spawnSync(argv[0]!, argv.slice(1)).status, 125);
    assert.throws(() => readFileSync(marker));
  });

  it("leaves argv as it is without dirs", () => {
    assert.deepEqual(execInCgroups([], ["/usr/bin/qemu", "-m", "256"]), ["/usr/bin/qemu", "-m", "256"]);
  });
});
