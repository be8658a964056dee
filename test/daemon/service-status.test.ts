import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { serviceStatusLine } from "../../src/daemon/service-status.js";

describe("systemd STATUS= line", () => {
  it("counts pod dirs per kind (files beside them and missing dirs count as none)", (t) => {
    const dir = mkdtempSync("/tmp/status-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const id of ["a", "b"]) mkdirSync(join(dir, "runc", "pods", id), { recursive: true });
    writeFileSync(join(dir, "runc", "pods", "stray.json"), "{}");
    mkdirSync(join(dir, "vmm", "pods", "c"), { recursive: true });
    assert.equal(serviceStatusLine({ runc: join(dir, "runc"), wasm: join(dir, "wasm"), vmm: join(dir, "vmm") }), "serving 3 pods (runc 2, wasm 0, vmm 1)");
    assert.equal(serviceStatusLine({ gvisor: join(dir, "none") }), "serving 0 pods (gvisor 0)");
    rmSync(join(dir, "runc"), { recursive: true });
    assert.equal(serviceStatusLine({ runc: join(dir, "runc"), vmm: join(dir, "vmm") }), "serving 1 pod (runc 0, vmm 1)");
  });
});
