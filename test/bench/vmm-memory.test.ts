import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { vmmInfraKind } from "../../bench/vmm-memory.js";

describe("vmmInfraKind", () => {
  it("tells QEMU and virtiofsd from the rest by executable or command name", () => {
    assert.equal(vmmInfraKind({ comm: "qemu-system-x86", exe: "/usr/bin/qemu-system-x86_64" }), "qemu");
    assert.equal(vmmInfraKind({ comm: "qemu-system-x86", exe: undefined }), "qemu");
    assert.equal(vmmInfraKind({ comm: "virtiofsd", exe: "/usr/lib/qemu/virtiofsd" }), "virtiofsd");
    assert.equal(vmmInfraKind({ comm: "node", exe: "/usr/bin/node" }), undefined);
  });
});
