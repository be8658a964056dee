import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hybridWithV2Controllers } from "../../src/oci-runtime/cgroup-layout.js";

const hybrid = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");
const pureV2 = "31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate";
const legacy = hybrid.split("\n").slice(0, 2).join("\n");

describe("the cgroup layout crun refuses", () => {
  it("is a hybrid host whose cgroup2 mount holds a controller", () => {
    assert.equal(hybridWithV2Controllers(hybrid, () => "hugetlb\n"), true);
  });

  it("is not a hybrid host with an empty cgroup2, a pure v2 host (stock Debian 12) or a v1-only one", () => {
    assert.equal(hybridWithV2Controllers(hybrid, () => "\n"), false);
    assert.equal(hybridWithV2Controllers(pureV2, () => "cpu memory pids\n"), false);
    assert.equal(hybridWithV2Controllers(legacy, () => "hugetlb"), false);
  });
});
