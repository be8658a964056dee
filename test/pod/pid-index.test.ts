import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Pod } from "../../src/pod/pod.js";
import { PidIndex } from "../../src/pod/pid-index.js";

describe("pid index", () => {
  it("keeps the same pid of two pods apart", () => {
    const a = { id: "a" } as Pod;
    const b = { id: "b" } as Pod;
    const idx = new PidIndex();
    idx.set(a, 137, { containerId: "ca", execId: "" });
    idx.set(b, 137, { containerId: "cb", execId: "" });
    assert.equal(idx.get(a, 137)?.containerId, "ca");
    assert.equal(idx.get(b, 137)?.containerId, "cb");
    idx.delete(a, 137);
    assert.equal(idx.get(a, 137), undefined);
    assert.equal(idx.get(b, 137)?.containerId, "cb");
  });
});
