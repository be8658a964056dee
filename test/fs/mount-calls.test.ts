import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compactLowerdir, MOUNT_DATA_MAX, MS, mountCalls } from "../../src/fs/mount-calls.js";

const T = "/run/x/rootfs";

describe("mountCalls (mount(8) options as mount(2) calls)", () => {
  it("an overlay: flags out of the options, the rest as data in order", () => {
    const calls = mountCalls({ type: "overlay", source: "overlay", options: ["index=off", "ro", "nosuid", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b", "x-kuasar.note"] }, T);
    assert.deepEqual(calls, [{ source: "overlay", target: T, fstype: "overlay", flags: MS.RDONLY | MS.NOSUID, data: "index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b", cwd: "" }]);
  });

  it("a later option undoes an earlier one, as mount(8) reads them", () => {
    const [c] = mountCalls({ type: "tmpfs", source: "tmpfs", options: ["ro", "noexec", "rw", "exec", "nodev", "size=1m"] }, T)!;
    assert.equal(c!.flags, MS.NODEV);
    assert.equal(c!.data, "size=1m");
  });

  it("a bind with flags: the bind, then a remount of it carrying them (the kernel ignores them on the bind)", () => {
    assert.deepEqual(mountCalls({ type: "bind", source: "/s", options: ["rbind", "ro", "nosuid"] }, T), [
      { source: "/s", target: T, fstype: "", flags: MS.BIND | MS.REC, data: "", cwd: "" },
      { source: "", target: T, fstype: "", flags: MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID, data: "", cwd: "" },
    ]);
    assert.deepEqual(mountCalls({ type: "none", source: "/s", options: ["bind"] }, T), [{ source: "/s", target: T, fstype: "", flags: MS.BIND, data: "", cwd: "" }], "rw bind: one call");
  });

  it("propagation options: a call each, after the mount", () => {
    const calls = mountCalls({ type: "bind", source: "/s", options: ["rbind", "rprivate"] }, T)!;
    assert.deepEqual(calls.map((c) => c.flags), [MS.BIND | MS.REC, MS.PRIVATE | MS.REC]);
  });

  it("an option only mount(8) acts on (a loop device): left to mount(8)", () => {
    assert.equal(mountCalls({ type: "ext4", source: "/img", options: ["loop", "ro"] }, T), undefined);
    assert.equal(mountCalls({ type: "ext4", source: "/img", options: ["offset=512"] }, T), undefined);
  });

  it("an overlay of more layers than a page names: the lower dirs relative to the directory they share", () => {
    const root = "/srv/ctrd/io.containerd.snapshotter.v1.overlayfs/snapshots"; // the shape of containerd's snapshotter paths; nothing is touched
    const lowers = Array.from({ length: 80 }, (_, i) => `${root}/${1000 + i}/fs`);
    const options = [`workdir=${root}/2000/work`, `upperdir=${root}/2000/fs`, `lowerdir=${lowers.join(":")}`, "index=off"];
    assert.ok(options.join(",").length >= MOUNT_DATA_MAX, "the plain data would not fit");
    const [c] = mountCalls({ type: "overlay", source: "overlay", options }, T)!;
    assert.equal(c!.cwd, root);
    assert.equal(c!.data, `workdir=${root}/2000/work,upperdir=${root}/2000/fs,lowerdir=${lowers.map((_, i) => `${1000 + i}/fs`).join(":")},index=off`);
    assert.ok(c!.data.length < MOUNT_DATA_MAX);
  });

  it("no compaction where the lower dirs share only /, a name is escaped, or it still would not fit", () => {
    assert.equal(compactLowerdir(["lowerdir=/a/x:/b/y"]), undefined);
    assert.equal(compactLowerdir(["lowerdir=/s/a\\:b:/s/c"]), undefined);
    assert.equal(compactLowerdir(["lowerdir=/s/a"]), undefined, "one layer: nothing to share");
    const huge = Array.from({ length: 500 }, (_, i) => `/s/layer-${i}-${"n".repeat(20)}`);
    assert.equal(compactLowerdir([`lowerdir=${huge.join(":")}`]), undefined);
    assert.deepEqual(compactLowerdir(["upperdir=/s/u", "lowerdir=/s/l/1/fs:/s/l/2/fs"]), { data: "upperdir=/s/u,lowerdir=1/fs:2/fs", cwd: "/s/l" });
  });

  it("the page is counted in bytes: names of multi-byte characters that fit in characters but not in bytes are compacted, or left to the kernel", () => {
    const root = "/srv/snap";
    // 3 bytes per character: 30 layers of about 60 characters come to about 1900 characters but 5400 bytes.
    const lowers = Array.from({ length: 30 }, (_, i) => `${root}/${"\u96ea".repeat(50)}-${i}/fs`);
    const options = [`lowerdir=${lowers.join(":")}`];
    assert.ok(options[0]!.length < MOUNT_DATA_MAX && Buffer.byteLength(options[0]!) >= MOUNT_DATA_MAX);
    const [c] = mountCalls({ type: "overlay", source: "overlay", options }, T)!;
    assert.equal(c!.cwd, "", "still more than a page once relative: the data is passed whole, for the kernel to refuse");
    const short = Array.from({ length: 30 }, (_, i) => `${root}/${"\u96ea".repeat(45)}/${i}/fs`);
    assert.ok(Buffer.byteLength(short.join(":")) >= MOUNT_DATA_MAX && short.join(":").length < MOUNT_DATA_MAX);
    const [d] = mountCalls({ type: "overlay", source: "overlay", options: [`lowerdir=${short.join(":")}`] }, T)!;
    assert.equal(d!.cwd, `${root}/${"\u96ea".repeat(45)}`);
    assert.ok(Buffer.byteLength(d!.data) < MOUNT_DATA_MAX);
  });
});
