import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sandboxResourcesFor } from "../../../src/sandboxers/gvisor/sandbox-resources.js";

const r = (memoryLimitBytes: number, cpuQuota = 0, cpuPeriod = 0, cpuShares = 0) => ({ memoryLimitBytes, cpuQuota, cpuPeriod, cpuShares });

describe("a gVisor sandbox's host limits", () => {
  it("sums the containers' memory limits and quotas (over one period) and shares", () => {
    assert.deepEqual(sandboxResourcesFor([r(64 << 20, 50_000, 100_000, 512), r(32 << 20, 10_000, 50_000, 2)]), r(96 << 20, 70_000, 100_000, 514));
  });

  it("leaves memory and quota as they are when one container has none (the sum is unbounded)", () => {
    assert.deepEqual(sandboxResourcesFor([r(64 << 20, 50_000, 100_000, 0), r(0)]), r(0, 0, 0, 0));
  });

  it("asks for nothing with no container", () => {
    assert.deepEqual(sandboxResourcesFor([]), r(0));
  });
});
