import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GUEST_CRUN, GUEST_RUNC } from "../../../src/sandboxers/vmm/guest-paths.js";
import { GUEST_RUNTIME_PROBE, guestRuntimeBinary, parseGuestRuntime } from "../../../src/sandboxers/vmm/guest-oci-runtime.js";
import { GuestRunc } from "../../../src/sandboxers/vmm/guest-runc.js";

describe("the OCI runtime of a VM pod's guest", () => {
  it("is what the setup script's probe line printed, runc when it printed none (a pod recorded before crun)", () => {
    assert.equal(parseGuestRuntime("x\noci_runtime=crun\ny"), "crun");
    assert.equal(parseGuestRuntime("oci_runtime=runc\n"), "runc");
    assert.equal(parseGuestRuntime(""), "runc");
    assert.equal(parseGuestRuntime("oci_runtime=crunch\n"), "runc");
    assert.match(GUEST_RUNTIME_PROBE, new RegExp(GUEST_CRUN));
  });

  it("runs the same command lines with either binary", () => {
    assert.equal(guestRuntimeBinary(undefined), GUEST_RUNC);
    assert.equal(guestRuntimeBinary("crun"), GUEST_CRUN);
    const runc = GuestRunc.createArgv("runc", "c", "/b", "/b/pid", "/b/log");
    const crun = GuestRunc.createArgv("crun", "c", "/b", "/b/pid", "/b/log");
    assert.equal(crun[0], GUEST_CRUN);
    assert.deepEqual(crun.slice(1), runc.slice(1));
    assert.deepEqual(GuestRunc.execArgv("crun", "c", "/p.json", "/p.pid", "/p.log").slice(1), GuestRunc.execArgv("runc", "c", "/p.json", "/p.pid", "/p.log").slice(1));
  });
});
