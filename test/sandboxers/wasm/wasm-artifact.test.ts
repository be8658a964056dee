import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../../src/errors/code.js";
import type { BlobRef, ImageContent } from "../../../src/sandboxers/wasm/containerd-content.js";
import { WasmArtifacts } from "../../../src/sandboxers/wasm/wasm-artifact.js";
import { fillDisk, tinyDisk, tinyDiskSkip } from "../../../testing/tiny-disk.js";

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** An in-memory image and content store of one namespace, counting blob reads. */
class FakeContent implements ImageContent {
  readonly blobs = new Map<string, Buffer>();
  readonly images = new Map<string, BlobRef>();
  reads = 0;

  put(data: Buffer | string, mediaType: string): BlobRef {
    const b = Buffer.from(data);
    const digest = digestOf(b);
    this.blobs.set(digest, b);
    return { mediaType, digest, size: b.length };
  }

  async target(namespace: string, name: string): Promise<BlobRef | undefined> {
    assert.equal(namespace, "k8s.io");
    return this.images.get(name);
  }

  async read(_namespace: string, digest: string): Promise<Buffer> {
    this.reads++;
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest}`);
    return b;
  }
}

const MODULE = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);

function artifact(c: FakeContent, layerType = "application/wasm", module: Buffer = MODULE): BlobRef {
  const layer = c.put(module, layerType);
  const config = c.put(JSON.stringify({ architecture: "wasm", os: "wasip1" }), "application/vnd.wasm.config.v0+json");
  return c.put(JSON.stringify({ schemaVersion: 2, config, layers: [layer] }), "application/vnd.oci.image.manifest.v1+json");
}

function cache(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "wasm-artifacts-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "modules");
}

describe("WasmArtifacts", () => {
  it("writes an application/wasm layer once, named by its digest, and reuses it", async (t) => {
    const c = new FakeContent();
    c.images.set("app:v1", artifact(c));
    const dir = cache(t);
    const a = new WasmArtifacts(c, dir);
    const path = await a.modulePath("k8s.io", "app:v1");
    assert.equal(path, join(dir, `${digestOf(MODULE).slice(7)}.wasm`));
    assert.deepEqual(readFileSync(path!), MODULE);
    const reads = c.reads;
    assert.equal(await a.modulePath("k8s.io", "app:v1"), path);
    assert.equal(c.reads, reads + 1, "the second lookup reads the manifest only, not the module again");
    assert.deepEqual(readdirSync(dir), [`${digestOf(MODULE).slice(7)}.wasm`]);
  });

  it("picks the wasm manifest of an index, and knows the wasm-to-oci layer type", async (t) => {
    const c = new FakeContent();
    const linux = c.put(JSON.stringify({ layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(Buffer.from("x")), size: 1 }] }), "application/vnd.oci.image.manifest.v1+json");
    const wasm = artifact(c, "application/vnd.wasm.content.layer.v1+wasm");
    const index = c.put(
      JSON.stringify({ manifests: [{ ...linux, platform: { architecture: "amd64", os: "linux" } }, { ...wasm, platform: { architecture: "wasm", os: "wasip1" } }] }),
      "application/vnd.oci.image.index.v1+json",
    );
    c.images.set("multi:v1", index);
    assert.ok((await new WasmArtifacts(c, cache(t)).modulePath("k8s.io", "multi:v1"))?.endsWith(".wasm"));
  });

  it("says undefined for an ordinary image and an unknown one", async (t) => {
    const c = new FakeContent();
    const layer = c.put("tar bytes", "application/vnd.oci.image.layer.v1.tar+gzip");
    c.images.set("busybox", c.put(JSON.stringify({ layers: [layer] }), "application/vnd.oci.image.manifest.v1+json"));
    const a = new WasmArtifacts(c, cache(t));
    assert.equal(await a.modulePath("k8s.io", "busybox"), undefined);
    assert.equal(await a.modulePath("k8s.io", "nothing"), undefined);
  });

  it("refuses a blob that does not match its digest, leaving nothing behind", async (t) => {
    const c = new FakeContent();
    const target = artifact(c);
    c.images.set("bad", target);
    c.blobs.set(digestOf(MODULE), Buffer.from("tampered"));
    const dir = cache(t);
    await assert.rejects(new WasmArtifacts(c, dir).modulePath("k8s.io", "bad"), { code: Code.DataLoss, message: /does not match its digest/ });
    assert.throws(() => readdirSync(dir), { code: "ENOENT" });
  });

  it("on a full disk refuses with ResourceExhausted, leaves no partial module, and caches it once there is room", { skip: tinyDiskSkip }, async (t) => {
    const disk = tinyDisk(t);
    const dir = join(disk, "modules");
    const c = new FakeContent();
    c.images.set("small", artifact(c));
    const big = Buffer.concat([MODULE, Buffer.alloc(128 << 10, 0x01)]); // more than the whole disk
    c.images.set("big", artifact(c, "application/wasm", big));
    const a = new WasmArtifacts(c, dir);
    const small = await a.modulePath("k8s.io", "small");
    fillDisk(disk);
    await assert.rejects(a.modulePath("k8s.io", "big"), { code: Code.ResourceExhausted, message: /no space left on device/ });
    assert.deepEqual(readdirSync(dir), [basename(small!)], "only the module written whole is there");
    for (const f of readdirSync(disk).filter((n) => n.startsWith("filler-"))) rmSync(join(disk, f));
    await assert.rejects(a.modulePath("k8s.io", "big"), { code: Code.ResourceExhausted }, "still more than the disk");
    rmSync(small!);
    c.images.set("big", artifact(c, "application/wasm", big.subarray(0, 32 << 10)));
    const path = await a.modulePath("k8s.io", "big");
    assert.equal(readFileSync(path!).length, 32 << 10);
  });
});
