import assert from "node:assert/strict";
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { mountsBelow } from "../../src/fs/mounts.js";
import { HolderClient } from "../../src/holder/holder-client.js";
import { startHolder } from "../../src/holder/start-holder.js";
import { mountRootfs, unmountRootfs, unmountBelow, type Mounter } from "../../src/pod/rootfs.js";

/** A real holder on a scratch dir (shut down after the test) and its client. */
async function holder(t: TestContext, dir: string): Promise<HolderClient> {
  const hdir = join(dir, "holder");
  mkdirSync(hdir);
  const { pid } = await startHolder(hdir, { logFile: join(hdir, "holder.log") });
  const client = await HolderClient.connect(hdir);
  t.after(async () => {
    await client.shutdown({ timeoutMs: 10_000 }).catch(() => process.kill(pid, "SIGKILL"));
    client.destroy();
  });
  return client;
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp("/tmp/krf-");
  t.after(async () => {
    await unmountBelow(dir).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** An overlay rootfs spec over a lower dir holding `hello`, with its upper and work dirs. */
function overlay(dir: string): { type: string; source: string; target: string; options: string[] } {
  for (const d of ["lower", "upper", "work"]) mkdirSync(join(dir, d));
  writeFileSync(join(dir, "lower", "hello"), "from the image\n");
  return { type: "overlay", source: "overlay", target: "", options: ["index=off", `workdir=${join(dir, "work")}`, `upperdir=${join(dir, "upper")}`, `lowerdir=${join(dir, "lower")}`] };
}

const mountOptions = (target: string): string[] => {
  const line = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => l.split(" ")[4] === target);
  assert.ok(line, `${target} is mounted`);
  return line.split(" ")[5]!.split(",");
};

describe("rootfs mounts through the pod's holder", () => {
  it("mounts an overlay and a read-only bind by the holder's mount(2), and unmounts them", async (t) => {
    const dir = await scratch(t);
    const client = await holder(t, dir);
    const rootfs = join(dir, "rootfs");
    mkdirSync(rootfs);
    const shared = join(dir, "shared");
    mkdirSync(shared);
    const image = overlay(dir);
    mkdirSync(join(dir, "lower", "data"));
    await mountRootfs([image, { type: "bind", source: shared, target: "/data", options: ["rbind", "ro", "nosuid"] }], rootfs, client);

    assert.equal(readFileSync(join(rootfs, "hello"), "utf8"), "from the image\n");
    writeFileSync(join(rootfs, "written"), "x");
    assert.equal(readFileSync(join(dir, "upper", "written"), "utf8"), "x", "writes land in the upper dir");
    assert.deepEqual(mountOptions(join(rootfs, "data")).filter((o) => o === "ro" || o === "nosuid").sort(), ["nosuid", "ro"], "the bind's flags were applied by its remount");
    assert.throws(() => writeFileSync(join(rootfs, "data", "f"), "x"), /EROFS/);

    await unmountRootfs(join(rootfs, "data"), client);
    await unmountRootfs(rootfs, client);
    assert.deepEqual(mountsBelow(dir), []);
    await unmountRootfs(rootfs, client); // not mounted any more: fine
  });

  it("an overlay of more layers than a page of mount data names (containerd's many-layer images)", async (t) => {
    const dir = await scratch(t);
    const client = await holder(t, dir);
    const snapshots = join(dir, "io.containerd.snapshotter.v1.overlayfs", "snapshots");
    const lowers = Array.from({ length: 60 }, (_, i) => join(snapshots, String(1000 + i), "fs"));
    for (const [i, l] of lowers.entries()) {
      mkdirSync(l, { recursive: true });
      writeFileSync(join(l, `layer-${i}`), String(i));
    }
    for (const d of ["upper", "work", "rootfs"]) mkdirSync(join(snapshots, "2000", d), { recursive: true });
    const options = ["index=off", `workdir=${join(snapshots, "2000", "work")}`, `upperdir=${join(snapshots, "2000", "upper")}`, `lowerdir=${lowers.join(":")}`];
    assert.ok(options.join(",").length > 4096, "more than a page");
    const rootfs = join(snapshots, "2000", "rootfs");
    await mountRootfs([{ type: "overlay", source: "overlay", target: "", options }], rootfs, client);
    assert.equal(readFileSync(join(rootfs, "layer-0"), "utf8"), "0", "the top layer");
    assert.equal(readFileSync(join(rootfs, "layer-59"), "utf8"), "59", "the bottom layer");
    await unmountRootfs(rootfs, client);
    assert.deepEqual(mountsBelow(dir), []);
  });

  it("a bad mount is InvalidArgument naming it, and what was mounted before it is undone", async (t) => {
    const dir = await scratch(t);
    const client = await holder(t, dir);
    const rootfs = join(dir, "rootfs");
    mkdirSync(rootfs);
    const err = await mountRootfs([overlay(dir), { type: "overlay", source: "overlay", target: "/nowhere", options: ["lowerdir=/no/such/dir"] }], rootfs, client).then(
      () => assert.fail("mounted"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RuntimeError);
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.message, /mount overlay on .*nowhere/);
    assert.deepEqual(mountsBelow(dir), [], "the overlay mounted first was undone");
  });

  it("a holder older than the mount verb: mount(8) and umount(8) do it", async (t) => {
    const dir = await scratch(t);
    const asked: string[] = [];
    const old: Mounter = {
      mount: async () => {
        asked.push("mount");
        throw new RuntimeError(Code.Unimplemented, "holder: unknown request mount (ENOSYS)");
      },
      umount: async () => {
        asked.push("umount");
        throw new RuntimeError(Code.Unimplemented, "holder: unknown request umount (ENOSYS)");
      },
    };
    const rootfs = join(dir, "rootfs");
    mkdirSync(rootfs);
    await mountRootfs([overlay(dir)], rootfs, old);
    accessSync(join(rootfs, "hello"), constants.R_OK);
    await unmountRootfs(rootfs, old);
    assert.deepEqual(mountsBelow(dir), []);
    assert.deepEqual(asked, ["mount", "umount"]);
  });
});
