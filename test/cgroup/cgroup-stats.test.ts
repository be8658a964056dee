import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cgroupStats, cgroupStatsOfPid, parseProcCgroup } from "../../src/cgroup/cgroup-stats.js";

function fakeRoot(t: TestContext, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "cgroup-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe("cgroup stats", () => {
  it("parses /proc/<pid>/cgroup of the hybrid layout", () => {
    const m = parseProcCgroup("12:pids:/default/c1\n4:cpu:/default/c1\n3:cpuacct:/default/c1\n0::/default/c1\n");
    assert.deepEqual(m[0], { hierarchy: 12, controllers: ["pids"], path: "/default/c1" });
    assert.deepEqual(m[3], { hierarchy: 0, controllers: [], path: "/default/c1" });
  });

  it("reads v1 controllers", (t) => {
    const root = fakeRoot(t, {
      "cpuacct/p/cpuacct.usage": "5000000000\n",
      "cpuacct/p/cpuacct.stat": "user 300\nsystem 100\n",
      "memory/p/memory.usage_in_bytes": "1048576\n",
      "memory/p/memory.limit_in_bytes": "9223372036854771712\n",
      "pids/p/pids.current": "3\n",
      "pids/p/pids.max": "max\n",
    });
    const s = cgroupStats(parseProcCgroup("1:cpuacct:/p\n2:memory:/p\n3:pids:/p\n"), root);
    assert.deepEqual(s, {
      version: 1,
      cpuUsageNs: 5_000_000_000n,
      cpuUserNs: 3_000_000_000n,
      cpuSystemNs: 1_000_000_000n,
      memoryUsageBytes: 1_048_576n,
      memoryLimitBytes: 9_223_372_036_854_771_712n,
      pidsCurrent: 3n,
      pidsLimit: 0n,
    });
  });

  it("reads v2 when the root is unified", (t) => {
    const root = fakeRoot(t, {
      "cgroup.controllers": "cpu memory pids\n",
      "p/cpu.stat": "usage_usec 20\nuser_usec 15\nsystem_usec 5\n",
      "p/memory.current": "4096\n",
      "p/memory.max": "max\n",
      "p/pids.current": "2\n",
      "p/pids.max": "10\n",
    });
    const s = cgroupStats(parseProcCgroup("0::/p\n"), root);
    assert.equal(s.version, 2);
    assert.equal(s.cpuUsageNs, 20_000n);
    assert.equal(s.memoryUsageBytes, 4096n);
    assert.equal(s.pidsLimit, 10n);
  });

  it("reads this process's real cgroup, and NotFound for a dead pid", () => {
    const s = cgroupStatsOfPid(process.pid);
    assert.ok(s.memoryUsageBytes > 0n || s.cpuUsageNs > 0n);
    assert.throws(() => cgroupStatsOfPid(2 ** 22 + 1), { code: 5 });
  });
});
