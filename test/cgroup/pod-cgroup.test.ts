import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { applyPodResources, createPodCgroup, mountedHierarchies, podCgroupPath, removePodCgroup, sharesToWeight, sliceDir, type CgroupHierarchy } from "../../src/cgroup/pod-cgroup.js";

const HYBRID_MOUNTINFO = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  "50 23 0:38 /sub /mnt/elsewhere rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

/** Plain dirs standing in for mounted hierarchies (mkdir/rmdir/write behave enough alike for paths and files). */
function fakeHierarchies(t: TestContext): CgroupHierarchy[] {
  const root = mkdtempSync(join(tmpdir(), "pod-cgroup-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const hs: CgroupHierarchy[] = [
    { mount: join(root, "cpuset"), version: 1, controllers: ["cpuset"] },
    { mount: join(root, "memory"), version: 1, controllers: ["memory"] },
    { mount: join(root, "cpu"), version: 1, controllers: ["cpu"] },
    { mount: join(root, "unified"), version: 2, controllers: [] },
  ];
  for (const h of hs) mkdirSync(h.mount);
  writeFileSync(join(root, "cpuset", "cpuset.cpus"), "0-1\n");
  writeFileSync(join(root, "cpuset", "cpuset.mems"), "0\n");
  return hs;
}

describe("pod cgroup", () => {
  it("names the pod cgroup <parent>/<id> for cgroupfs and under the slice's path for systemd", () => {
    assert.equal(podCgroupPath("", "p1"), "");
    assert.equal(podCgroupPath("/kubepods/burstable/pod-u1", "p1"), "/kubepods/burstable/pod-u1/p1");
    assert.equal(podCgroupPath("kubepods/pod-u1", "p1"), "/kubepods/pod-u1/p1");
    assert.equal(podCgroupPath("kubepods-burstable-pod1.slice", "p1"), "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/kuasar-p1");
    assert.equal(sliceDir("-.slice"), "/");
    assert.throws(() => podCgroupPath("/kubepods/../../etc", "p1"), { code: Code.InvalidArgument });
    assert.throws(() => podCgroupPath("a--b.slice", "p1"), { code: Code.InvalidArgument });
  });

  it("finds every v1 controller mount and the cgroup2 mount of a hybrid host, not bind mounts of a subtree", () => {
    assert.deepEqual(mountedHierarchies(HYBRID_MOUNTINFO), [
      { mount: "/sys/fs/cgroup/cpu", version: 1, controllers: ["cpu"] },
      { mount: "/sys/fs/cgroup/cpuset", version: 1, controllers: ["cpuset"] },
      { mount: "/sys/fs/cgroup/memory", version: 1, controllers: ["memory"] },
      { mount: "/sys/fs/cgroup/systemd", version: 1, controllers: ["name=systemd"] },
      { mount: "/sys/fs/cgroup/unified", version: 2, controllers: [] },
    ]);
  });

  it("makes the dir in every hierarchy with cpuset copied from the parent, applies limits, removes only its own dir", async (t) => {
    const hs = fakeHierarchies(t);
    const dirs = createPodCgroup("/kubepods/pod1/sb1", hs);
    assert.deepEqual(dirs, hs.map((h) => join(h.mount, "kubepods/pod1/sb1")));
    assert.equal(readFileSync(join(hs[0]!.mount, "kubepods/pod1/sb1/cpuset.cpus"), "utf8"), "0-1");
    applyPodResources("/kubepods/pod1/sb1", { memoryLimitBytes: 32 << 20, cpuQuota: 50000, cpuPeriod: 100000, cpuShares: 512 }, hs);
    assert.equal(readFileSync(join(hs[1]!.mount, "kubepods/pod1/sb1/memory.limit_in_bytes"), "utf8"), String(32 << 20));
    assert.equal(readFileSync(join(hs[2]!.mount, "kubepods/pod1/sb1/cpu.cfs_quota_us"), "utf8"), "50000");
    assert.equal(readFileSync(join(hs[2]!.mount, "kubepods/pod1/sb1/cpu.shares"), "utf8"), "512");
    // Plain dirs hold the files written above: empty them as the kernel would before removing.
    for (const d of dirs) for (const f of ["cpuset.cpus", "cpuset.mems", "memory.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"]) rmSync(join(d, f), { force: true });
    assert.equal(await removePodCgroup("/kubepods/pod1/sb1", hs), true);
    for (const h of hs) {
      assert.equal(existsSync(join(h.mount, "kubepods/pod1/sb1")), false);
      assert.equal(existsSync(join(h.mount, "kubepods/pod1")), true, "the parent is kubelet's");
    }
  });

  it("refuses resources without a pod cgroup or a controller for them", (t) => {
    assert.throws(() => applyPodResources("", { memoryLimitBytes: 1, cpuQuota: 0, cpuPeriod: 0, cpuShares: 0 }), { code: Code.FailedPrecondition });
    const v2only = fakeHierarchies(t).filter((h) => h.version === 2);
    assert.throws(() => applyPodResources("/x", { memoryLimitBytes: 1 << 20, cpuQuota: 0, cpuPeriod: 0, cpuShares: 0 }, v2only), /no memory controller/);
  });

  it("converts CFS shares to a v2 weight as runc does", () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(262144), 10000);
  });
});
