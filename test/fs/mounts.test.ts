import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mountsBelow } from "../../src/fs/mounts.js";

const mountinfo = [
  "22 1 0:21 / / rw shared:1 - ext4 /dev/vda1 rw",
  "30 22 0:30 / /run/kuasar-vmm/pods/p1/shared/c/c1/rootfs rw - overlay overlay rw",
  "31 30 0:31 / /run/kuasar-vmm/pods/p1/shared/c/c1/m/2 rw - ext4 /dev/vda1 rw",
  "32 22 0:32 / /run/kuasar-vmm/pods/p10 rw - tmpfs tmpfs rw",
  "33 22 0:33 / /run/kuasar-vmm/pods/p1/with\\040space rw - tmpfs tmpfs rw",
  "",
].join("\n");

describe("mounts below a directory", () => {
  it("lists mount points at or below it, deepest first, decoding octal escapes and ignoring look-alike siblings", () => {
    assert.deepEqual(mountsBelow("/run/kuasar-vmm/pods/p1", mountinfo), [
      "/run/kuasar-vmm/pods/p1/shared/c/c1/m/2",
      "/run/kuasar-vmm/pods/p1/shared/c/c1/rootfs",
      "/run/kuasar-vmm/pods/p1/with space",
    ]);
    assert.deepEqual(mountsBelow("/run/kuasar-vmm/pods/p1/", mountinfo).length, 3);
    assert.deepEqual(mountsBelow("/nowhere", mountinfo), []);
  });
});
