import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MS, mountCalls } from "../../src/fs/mount-calls.js";

const T = "/run/x/rootfs";

describe("mountCalls (mount(8) options as mount(2) calls)", () => {
  it("an overlay: flags out of the options, the rest as data in order", () => {
    const calls = mountCalls({ type: "overlay", source: "overlay", target: "", options: ["index=off", "ro", "nosuid", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b", "x-kuasar.note"] }, T);
    assert.deepEqual(calls, [{ source: "overlay", target: T, fstype: "overlay", flags: MS.RDONLY | MS.NOSUID, data: "index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b" }]);
  });

  it("a later option undoes an earlier one, as mount(8) reads them", () => {
    const [c] = mountCalls({ type: "tmpfs", source: "tmpfs", target: "", options: ["ro", "noexec", "rw", "exec", "nodev", "size=1m"] }, T)!;
    assert.equal(c!.flags, MS.NODEV);
    assert.equal(c!.data, "size=1m");
  });

  it("a bind with flags: the bind, then a remount of it carrying them (the kernel ignores them on the bind)", () => {
    assert.deepEqual(mountCalls({ type: "bind", source: "/s", target: "", options: ["rbind", "ro", "nosuid"] }, T), [
      { source: "/s", target: T, fstype: "", flags: MS.BIND | MS.REC, data: "" },
      { source: "", target: T, fstype: "", flags: MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID, data: "" },
    ]);
    assert.deepEqual(mountCalls({ type: "none", source: "/s", target: "", options: ["bind"] }, T), [{ source: "/s", target: T, fstype: "", flags: MS.BIND, data: "" }], "rw bind: one call");
  });

  it("propagation options: a call each, after the mount", () => {
    const calls = mountCalls({ type: "bind", source: "/s", target: "", options: ["rbind", "rprivate"] }, T)!;
    assert.deepEqual(calls.map((c) => c.flags), [MS.BIND | MS.REC, MS.PRIVATE | MS.REC]);
  });

  it("an option only mount(8) acts on (a loop device): left to mount(8)", () => {
    assert.equal(mountCalls({ type: "ext4", source: "/img", target: "", options: ["loop", "ro"] }, T), undefined);
    assert.equal(mountCalls({ type: "ext4", source: "/img", target: "", options: ["offset=512"] }, T), undefined);
  });
});
