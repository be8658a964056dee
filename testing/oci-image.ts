import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const execFileP = promisify(execFile);

/** Hex sha256 of `b`. */
export const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Deterministic `tar` of the named entries of `dir` (sorted, uid/gid 0, mtime 0). */
export async function tarDir(dir: string, entries: readonly string[], out: string): Promise<void> {
  await execFileP("tar", ["--create", "--file", out, "--directory", dir, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--", ...entries]);
}

/** The image config fields the harness sets (OCI image-spec `config`). */
export interface ImageRunConfig {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
}

/**
 * Writes an `oci-layout` archive at `out` with one gzip layer made of `entries`
 * of `rootfs`, named `ref` the way `ctr images import` (1.7 and 2.x) picks up.
 * Returns the manifest and config digests.
 */
export async function writeOciArchive(opts: { ref: string; rootfs: string; entries: readonly string[]; config: ImageRunConfig; work: string; out: string; createdBy: string }): Promise<{ manifestDigest: string; configDigest: string }> {
  const layerTar = join(opts.work, "layer.tar");
  await tarDir(opts.rootfs, opts.entries, layerTar);
  const layerRaw = await readFile(layerTar);
  const gz = gzipSync(layerRaw, { level: 9 });
  const layer = { digest: `sha256:${sha256(gz)}`, size: gz.length, data: gz };
  const layout = join(opts.work, "layout");
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "blobs", "sha256", layer.digest.slice("sha256:".length)), layer.data);
  const created = "1970-01-01T00:00:00Z";
  const digests = await writeImageLayout(
    layout,
    opts.ref,
    {
      created,
      architecture: "amd64",
      os: "linux",
      config: opts.config,
      rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layerRaw)}`] },
      history: [{ created, created_by: opts.createdBy }],
    },
    [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layer.size }],
  );
  await tarDir(layout, ["blobs", "index.json", "oci-layout"], opts.out);
  return digests;
}

/**
 * Writes the image config and manifest blobs, `index.json` (naming the image
 * `ref` for `ctr images import`) and `oci-layout` into an OCI layout directory
 * whose layer blobs are already there.
 */
export async function writeImageLayout(layout: string, ref: string, imageConfig: unknown, layers: readonly unknown[]): Promise<{ manifestDigest: string; configDigest: string }> {
  const blob = (data: Buffer) => ({ digest: `sha256:${sha256(data)}`, size: data.length, data });
  const config = blob(json(imageConfig));
  const manifest = blob(
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config.digest, size: config.size },
      layers,
    }),
  );
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  for (const b of [config, manifest]) await writeFile(join(layout, "blobs", "sha256", b.digest.slice("sha256:".length)), b.data);
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifest.digest,
          size: manifest.size,
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref },
        },
      ],
    }),
  );
  return { manifestDigest: manifest.digest, configDigest: config.digest };
}
