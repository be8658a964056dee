import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../log/logger.js";
import { readRunscFeatures, type RunscFeatures } from "./runsc-features.js";
import { HIDE_HOST_NET_SYSCTLS } from "./net-sysctl-mask.js";
import { rootImageOf, type RootImage } from "./root-image.js";
import { rootContainerSpec } from "./sandbox-spec.js";

/** The platform and network gVisor pods run with, and why each was chosen. */
export interface RunscSetup {
  platform: string;
  platformReason: string;
  /** Network of pods that have their own network namespace (host-network pods always pass through). */
  network: "sandbox" | "host" | "none";
  networkReason: string;
  /** The EROFS image pods' root containers boot from (no gofer), or "" (a gofer serves an empty rootfs). */
  rootImage: string;
  rootImageReason: string;
  features: RunscFeatures;
}

/** What the probe needs to know. */
export interface RunscProbeOptions {
  binary: string;
  /** `auto` or a platform name. */
  platform: string;
  /** `auto` or a network mode. */
  network: string;
  pauseBinary: string;
  /** Where the throwaway sandbox's files go (removed afterwards). */
  scratchDir: string;
  timeoutMs: number;
}

/** The platform tried first under `auto`: systrap needs no ptrace stops per syscall. */
const PREFERRED_PLATFORM = "systrap";

/** The first runsc release that boots a container from an EROFS image without a gofer (2023-10). */
const FIRST_ROOT_IMAGE_RELEASE = 20231009;

/**
 * Decides the platform and network once per daemon start. For `auto`, a
 * throwaway sandbox (the pod's pause program, in a fresh network namespace with
 * a veth pair like a CNI pod's) must start with systrap, else ptrace is used;
 * and with gVisor's own network stack, else pods pass socket calls through to
 * their namespace (`host`). Each fallback says why (the probe's error).
 */
export async function probeRunscSetup(o: RunscProbeOptions, log: Logger): Promise<RunscSetup> {
  const features = await readRunscFeatures(o.binary, o.timeoutMs);
  const autoPlatform = o.platform === "auto";
  const autoNetwork = o.network === "auto";
  const candidates = !autoPlatform ? [o.platform] : features.platforms.includes(PREFERRED_PLATFORM) ? [PREFERRED_PLATFORM, "ptrace"] : ["ptrace"];
  let platform = candidates.at(-1)!;
  let network = (autoNetwork ? "host" : o.network) as RunscSetup["network"];
  let networkReason = autoNetwork ? "" : "configured";
  const failures: string[] = [];
  if (autoPlatform || autoNetwork) {
    for (const p of candidates) {
      const first = await probeOnce(o, p, autoNetwork ? "sandbox" : network);
      const fallback = !first.ok && autoNetwork ? await probeOnce(o, p, "host") : undefined;
      if (first.ok || fallback?.ok) {
        platform = p;
        if (autoNetwork) {
          network = first.ok ? "sandbox" : "host";
          networkReason = first.ok ? "a probe sandbox started with gVisor's network stack on a veth" : `--network=sandbox failed in the probe sandbox: ${first.error}`;
        }
        break;
      }
      failures.push(`${p} failed in the probe sandbox: ${(fallback ?? first).error}`);
    }
  }
  const noneStarted = failures.length === candidates.length && (autoPlatform || autoNetwork);
  if (autoNetwork && !networkReason) networkReason = `no probe sandbox started (${failures.join("; ")})`;
  const platformReason = !autoPlatform
    ? "configured"
    : noneStarted
      ? `no probe sandbox started (${failures.join("; ")})`
      : failures.length > 0
        ? failures.join("; ")
        : candidates.length > 1
          ? "a probe sandbox started on it"
          : `runsc ${features.version} has no ${PREFERRED_PLATFORM} platform`;
  const root = await probeRootImage(o, features, platform);
  const setup: RunscSetup = { platform, platformReason, network, networkReason, rootImage: root.path, rootImageReason: root.reason, features };
  const noRootImage = !root.path && features.directfs; // a current runsc that could have had one
  const level = noneStarted || (autoPlatform && platform !== PREFERRED_PLATFORM) || (autoNetwork && network !== "sandbox") || noRootImage ? "warn" : "info";
  log[level](
    { runsc: features.version, platform, platform_reason: platformReason, network, network_reason: networkReason, directfs: features.directfs, root_image: root.path, root_image_reason: root.reason },
    "gVisor platform and network chosen",
  );
  return setup;
}

/**
 * The root containers' image, once a throwaway sandbox booted from it on `platform`; else ""
 * and why (an older runsc, no image built, a failed boot): pods then start as before,
 * with a gofer serving their root container.
 */
async function probeRootImage(o: RunscProbeOptions, features: RunscFeatures, platform: string): Promise<RootImage> {
  const release = Number(/(\d{8})/.exec(features.version)?.[1] ?? 0);
  if (release > 0 && release < FIRST_ROOT_IMAGE_RELEASE) return { path: "", reason: `runsc ${features.version} cannot boot a container from an EROFS image (2023-10 and later builds can)` };
  const image = rootImageOf(o.pauseBinary);
  if (!image.path) return image;
  const booted = await probeOnce(o, platform, "none", image.path);
  return booted.ok ? { path: image.path, reason: "a probe sandbox booted from it without a gofer" } : { path: "", reason: `a probe sandbox did not boot from it: ${booted.error}` };
}

/** One throwaway sandbox: create and start its root container, then delete it. */
async function probeOnce(o: RunscProbeOptions, platform: string, network: string, rootImage = ""): Promise<{ ok: boolean; error: string }> {
  mkdirSync(o.scratchDir, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(o.scratchDir, "runsc-probe-"));
  try {
    const rootfs = join(dir, "rootfs");
    mkdirSync(rootfs);
    // Kept with an image too: a runsc that ignored the image would find this empty `/pause` and fail.
    writeFileSync(join(rootfs, "pause"), "", { mode: 0o755 });
    const spec = rootContainerSpec({ sandboxId: "probe", rootfs, pauseBinary: o.pauseBinary, rootImage, hostname: "probe", netnsPath: "@NETNS@" });
    writeFileSync(join(dir, "config.tmpl"), JSON.stringify(spec));
    const text = await run(["unshare", "--net", "--mount", "--", "/bin/sh", "-c", PROBE_SCRIPT, "probe", o.binary, join(dir, "root"), dir, platform, network], o.timeoutMs);
    return { ok: true, error: text };
  } catch (err) {
    return { ok: false, error: (err as Error).message.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "failed" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs inside a fresh network and mount namespace: a veth pair with an address
 * (what a CNI plugin leaves), the spec pointed at this namespace, then the
 * sandbox started and deleted as kuasard does it for a pod.
 */
const PROBE_SCRIPT = `
set -e
runsc=$1 root=$2 bundle=$3 platform=$4 network=$5
ip link set lo up
ip link add kprobe0 type veth peer name kprobe1
ip addr add 169.254.77.1/30 dev kprobe0
ip link set kprobe0 up
ip link set kprobe1 up
sed "s|@NETNS@|/proc/$$/ns/net|" "$bundle/config.tmpl" >"$bundle/config.json"
r() { "$runsc" --root "$root" --platform="$platform" --network="$network" "$@"; }
r create --bundle "$bundle" probe
if [ "$network" = sandbox ]; then ${HIDE_HOST_NET_SYSCTLS}; fi
rc=0
r start probe || rc=$?
r delete --force probe || true
exit $rc
`;

function run(argv: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${stderr}\n${err.message}`.trim()));
      else resolve(stdout);
    });
  });
}
