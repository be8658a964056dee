import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { Containerd } from "./containerd.js";
import { sha256, tarDir, writeImageLayout, writeOciArchive } from "./oci-image.js";
import { cacheDir, systemBinaries } from "./deps.js";

const execFileP = promisify(execFile);

/** The name `ctr images import` gives the image (both containerd 1.7 and 2.x). */
export const BUSYBOX_IMAGE = "docker.io/library/busybox:latest";

/** `PATH` in the image config (the usual OCI/Docker default). */
export const BUSYBOX_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A built OCI image archive. */
export interface BusyboxImage {
  /** Path of the `oci-layout` tar (cached; do not modify). */
  readonly tarPath: string;
  /** Image reference recorded in index.json. */
  readonly ref: string;
  /** Digest of the image manifest (`sha256:...`). */
  readonly manifestDigest: string;
  /** Digest of the image config, i.e. the image id (`sha256:...`). */
  readonly configDigest: string;
}

/** Options of {@link buildBusyboxImage}. */
export interface BusyboxImageOptions {
  /** Static busybox to package. Default: {@link systemBinaries}().busybox (`/bin/busybox`). */
  readonly busybox: string;
  /** Where archives are cached, keyed by the busybox binary's sha256. Default `<deps prefix>/cache/images`. */
  readonly cacheDir: string;
}



/** Lays out the busybox rootfs: the binary, an applet symlink per `busybox --list-full` entry, etc files. */
async function writeRootfs(busybox: string, rootfs: string): Promise<string[]> {
  // Explicit modes everywhere: the layer (and so its digest) must not depend on the umask.
  for (const d of ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "tmp", "dev", "proc", "sys", "var"]) {
    await mkdir(join(rootfs, d), { recursive: true });
    await chmod(join(rootfs, d), 0o755);
  }
  await chmod(join(rootfs, "tmp"), 0o1777);
  await chmod(join(rootfs, "root"), 0o700);
  await copyFile(busybox, join(rootfs, "bin/busybox"));
  await chmod(join(rootfs, "bin/busybox"), 0o755);
  const { stdout } = await execFileP(busybox, ["--list-full"]);
  for (const applet of stdout.split("\n").map((s) => s.trim())) {
    if (applet === "" || !applet.includes("/") || applet === "bin/busybox") continue; // skips top-level "linuxrc"
    await mkdir(dirname(join(rootfs, applet)), { recursive: true });
    await symlink("/bin/busybox", join(rootfs, applet));
  }
  await writeFile(
    join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await writeFile(join(rootfs, "etc/group"), "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n");
  await writeFile(join(rootfs, "etc/hostname"), "busybox\n");
  for (const f of ["etc/passwd", "etc/group", "etc/hostname"]) await chmod(join(rootfs, f), 0o644);
  return (await readdir(rootfs)).sort();
}

/**
 * Builds (or returns from cache) an OCI image-layout tarball of Debian's static busybox:
 * `oci-layout`, `index.json`, `blobs/sha256/{manifest,config,layer}`; one gzip layer with
 * `bin/busybox`, applet symlinks in `bin sbin usr/bin usr/sbin`, `etc/{passwd,group}`, `tmp/`.
 * Config: `Env [PATH]`, `Cmd ["sh"]`. The index entry carries both
 * `org.opencontainers.image.ref.name` and `io.containerd.image.name` = {@link BUSYBOX_IMAGE}.
 */
export async function buildBusyboxImage(options: Partial<BusyboxImageOptions> = {}): Promise<BusyboxImage> {
  const busybox = options.busybox ?? systemBinaries().busybox;
  const cache = options.cacheDir ?? join(cacheDir(), "images");
  const binHash = sha256(await readFile(busybox));
  const tarPath = join(cache, `busybox-${binHash.slice(0, 16)}.oci.tar`);
  const metaPath = `${tarPath}.json`;
  try {
    await stat(tarPath);
    // The sidecar's own path may be another tree's (a cache shared by worktrees): this one is where it is.
    return { ...(JSON.parse(await readFile(metaPath, "utf8")) as BusyboxImage), tarPath };
  } catch {
    /* build below */
  }

  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(join(cache, "build-"));
  try {
    const rootfs = join(work, "rootfs");
    const entries = await writeRootfs(busybox, rootfs);
    const outTmp = join(work, "image.tar");
    const { manifestDigest, configDigest } = await writeOciArchive({
      ref: BUSYBOX_IMAGE,
      rootfs,
      entries,
      config: { Env: [BUSYBOX_PATH_ENV], Cmd: ["sh"], WorkingDir: "/" },
      work,
      out: outTmp,
      createdBy: `kuasar-ts test harness: busybox ${binHash.slice(0, 12)}`,
    });

    const image: BusyboxImage = { tarPath, ref: BUSYBOX_IMAGE, manifestDigest, configDigest };
    return await publishImage(image, metaPath, outTmp);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Imports the busybox image into `namespace` of `containerd` (`ctr images import`, unpacked
 * with the instance's snapshotter) and checks that `ctr images ls` lists {@link BUSYBOX_IMAGE}.
 * Imports no pause image.
 */
export async function importBusybox(containerd: Containerd, namespace: string): Promise<BusyboxImage> {
  const image = await buildBusyboxImage();
  await containerd.ctr(["images", "import", image.tarPath], { namespace });
  const { stdout } = await containerd.ctr(["images", "ls", "-q"], { namespace });
  if (!stdout.split("\n").includes(image.ref)) {
    throw new Error(`importBusybox: ${image.ref} not listed in namespace ${namespace} after import:\n${stdout}`);
  }
  return image;
}

/** The reference the harness's default CRI `sandboxImage` names (see `defaultContainerdOptions`). */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

/** Options of {@link buildPauseImage}. */
export interface PauseImageOptions {
  /** Reference recorded in index.json. Default {@link PAUSE_IMAGE}. */
  readonly ref: string;
  /** Entrypoint of the sandbox container. Default `["/bin/sleep", "infinity"]` (busybox applet). */
  readonly entrypoint: readonly string[];
  /** Passed on to {@link buildBusyboxImage}. Default: its defaults. */
  readonly busybox: Partial<BusyboxImageOptions>;
}

/**
 * Builds (or returns from cache) a stand-in "pause" image for stock `io.containerd.runc.v2`
 * pods, since no registry is reachable: the busybox image's layer (same blob, so the snapshot
 * is shared) with `Entrypoint` {@link PauseImageOptions.entrypoint}, no `Cmd`, tagged
 * {@link PAUSE_IMAGE}. Unlike the real pause binary it does not reap zombies or exit on
 * SIGTERM (containerd stops sandbox containers with SIGKILL); one process per pod, as pause.
 */
export async function buildPauseImage(options: Partial<PauseImageOptions> = {}): Promise<BusyboxImage> {
  const ref = options.ref ?? PAUSE_IMAGE;
  const entrypoint = [...(options.entrypoint ?? ["/bin/sleep", "infinity"])];
  const busybox = await buildBusyboxImage(options.busybox);
  const key = sha256(`${busybox.manifestDigest}\n${ref}\n${JSON.stringify(entrypoint)}`).slice(0, 16);
  const tarPath = join(dirname(busybox.tarPath), `pause-${key}.oci.tar`);
  const metaPath = `${tarPath}.json`;
  try {
    await stat(tarPath);
    // The sidecar's own path may be another tree's (a cache shared by worktrees): this one is where it is.
    return { ...(JSON.parse(await readFile(metaPath, "utf8")) as BusyboxImage), tarPath };
  } catch {
    /* build below */
  }
  const work = await mkdtemp(join(dirname(busybox.tarPath), "build-pause-"));
  try {
    const layout = join(work, "layout");
    await mkdir(layout);
    await execFileP("tar", ["--extract", "--file", busybox.tarPath, "--directory", layout]);
    const blobPath = (digest: string): string => join(layout, "blobs", "sha256", digest.slice("sha256:".length));
    const baseManifest = JSON.parse(await readFile(blobPath(busybox.manifestDigest), "utf8")) as {
      layers: unknown[];
    };
    const baseConfig = JSON.parse(await readFile(blobPath(busybox.configDigest), "utf8")) as {
      config: Record<string, unknown>;
      history?: unknown[];
    };
    await rm(blobPath(busybox.manifestDigest));
    await rm(blobPath(busybox.configDigest));
    const { manifestDigest, configDigest } = await writeImageLayout(
      layout,
      ref,
      {
        ...baseConfig,
        config: { Env: [BUSYBOX_PATH_ENV], Entrypoint: entrypoint, WorkingDir: "/" },
        history: [
          ...(baseConfig.history ?? []),
          { created: "1970-01-01T00:00:00Z", created_by: `kuasar-ts harness: pause stand-in ${JSON.stringify(entrypoint)}`, empty_layer: true },
        ],
      },
      baseManifest.layers,
    );
    const outTmp = join(work, "image.tar");
    await tarDir(layout, ["blobs", "index.json", "oci-layout"], outTmp);
    const image: BusyboxImage = { tarPath, ref, manifestDigest, configDigest };
    return await publishImage(image, metaPath, outTmp);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Imports the pause stand-in ({@link buildPauseImage}) into `namespace` of `containerd` and
 * checks that `ctr images ls` lists it. Only for configurations that run a pause container
 * (stock `io.containerd.runc.v2` on containerd 1.7) or whose CRI insists on the image existing.
 */
export async function importPause(
  containerd: Containerd,
  namespace: string,
  options: Partial<PauseImageOptions> = {},
): Promise<BusyboxImage> {
  const image = await buildPauseImage(options);
  await containerd.ctr(["images", "import", image.tarPath], { namespace });
  const { stdout } = await containerd.ctr(["images", "ls", "-q"], { namespace });
  if (!stdout.split("\n").includes(image.ref)) {
    throw new Error(`importPause: ${image.ref} not listed in namespace ${namespace} after import:\n${stdout}`);
  }
  return image;
}

/** Moves a built image archive from `built` to its cached place, its meta file first (both by rename, so a reader sees whole files). */
async function publishImage(image: BusyboxImage, metaPath: string, built: string): Promise<BusyboxImage> {
  await writeFile(`${metaPath}.tmp`, JSON.stringify(image));
  await rename(`${metaPath}.tmp`, metaPath);
  await rename(built, image.tarPath);
  return image;
}
