import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { isUnifiedOnly } from "../../../src/cgroup/cgroup-stats.js";
import { GUEST_CGROUP_GONE, guestCgroupStatsArgv, parseGuestCgroupDump } from "../../../src/sandboxers/vmm/guest-cgroup-stats.js";

describe("a VM pod container's cgroup numbers read in the guest (crun)", () => {
  it("maps the dump's cpu.stat, memory and pids lines; max and missing values are 0", () => {
    const s = parseGuestCgroupDump("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nmemory.current 4096\nmemory.max max\npids.current 3\npids.max 100\n");
    assert.deepEqual(s, { version: 2, cpuUsageNs: 1_500_000n, cpuUserNs: 1_000_000n, cpuSystemNs: 500_000n, memoryUsageBytes: 4096n, memoryLimitBytes: 0n, pidsCurrent: 3n, pidsLimit: 100n });
    assert.equal(parseGuestCgroupDump("").memoryUsageBytes, 0n);
  });

  // The guest mounts cgroup v2 only; a host with v1 controllers has no such files to read.
  it("reads a live process's cgroup v2 files with busybox sh, and says a gone process is gone", { skip: isUnifiedOnly() ? false : "this host's /sys/fs/cgroup is not cgroup v2 only, as the guest's is" }, () => {
    const argv = guestCgroupStatsArgv(process.pid);
    const shell = execFileSync("busybox", ["sh", "-c", argv[2]!], { encoding: "utf8" });
    const s = parseGuestCgroupDump(shell);
    assert.ok(s.memoryUsageBytes > 0n, `memory.current read: ${shell}`);
    assert.ok(s.cpuUsageNs > 0n, "cpu.stat read");
    const gone = spawnSync("busybox", ["sh", "-c", guestCgroupStatsArgv(2 ** 22 + 7)[2]!]);
    assert.equal(gone.status, GUEST_CGROUP_GONE);
    assert.throws(() => guestCgroupStatsArgv(0), /not a pid/);
  });
});
