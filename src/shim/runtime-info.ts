import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { OptionsSchema as RuncOptionsSchema } from "../gen/containerd/runc/v1/options_pb.js";
import { RuntimeInfoSchema } from "../gen/containerd/types/introspection_pb.js";
import { OptionsSchema as RuntimeOptionsSchema } from "../gen/runtimeoptions/v1/api_pb.js";

/** containerd's type URL of OCI runtime-spec features (JSON inside the Any). */
export const FEATURES_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";
const RUNC_OPTIONS_TYPE = "containerd.runc.v1.Options";
const RUNTIME_OPTIONS_TYPE = "runtimeoptions.v1.Options";

/** The subset of an OCI runtime-spec `features` document this project reads or writes. */
export interface OciFeatures {
  ociVersionMin?: string;
  ociVersionMax?: string;
  hooks?: string[];
  mountOptions?: string[];
  linux?: Record<string, unknown>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** What `-info` was asked about: the handler's options as containerd passed them on stdin. */
export interface InfoRequest {
  /** The options Any, echoed back in RuntimeInfo; undefined when stdin was empty. */
  options?: Any;
  /** `sandboxer = "<kind>"` of the options' TOML, when the handler's options carry it. */
  sandboxer?: string;
  /** `BinaryName` of runc options (`runtime_type = "io.containerd.runc.v2"` handlers), when set. */
  runcBinary?: string;
}

/** Decodes `-info`'s stdin (a binary google.protobuf.Any, or nothing). Throws on bytes that are not an Any. */
export function parseInfoRequest(stdin: Uint8Array): InfoRequest {
  if (stdin.length === 0) return {};
  const options = fromBinary(AnySchema, stdin);
  if (options.typeUrl.endsWith(RUNC_OPTIONS_TYPE)) {
    const runc = fromBinary(RuncOptionsSchema, options.value);
    return { options, ...(runc.binaryName ? { runcBinary: runc.binaryName } : {}) };
  }
  if (options.typeUrl.endsWith(RUNTIME_OPTIONS_TYPE)) {
    const body = new TextDecoder().decode(fromBinary(RuntimeOptionsSchema, options.value).configBody);
    const kind = sandboxerInToml(body);
    return { options, ...(kind ? { sandboxer: kind } : {}) };
  }
  return { options };
}

/** `sandboxer = "<kind>"` in a handler's options TOML (the same rule the launcher applies to `start`). */
export function sandboxerInToml(toml: string): string | undefined {
  let kind: string | undefined;
  for (const line of toml.split("\n")) {
    const m = /^\s*sandboxer\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(line);
    const v = m ? (m[1] ?? m[2] ?? "") : "";
    if (/^[a-z0-9_-]+$/.test(v)) kind = v;
  }
  return kind;
}

/** The kind a launcher name asks for (`containerd-shim-kuasar-vmm-v2` asks for vmm); undefined for the plain name. */
export function kindFromLauncherName(name: string): string | undefined {
  const m = /^containerd-shim-kuasar-([a-z0-9_]+)-v2$/.exec(name);
  return m?.[1];
}

/**
 * mount_setattr(2)-backed options that act on every submount (`rro`, `rnosuid`...). A kind
 * advertises them only where a test shows they reach every submount of the mount.
 */
export const RECURSIVE_ATTR_OPTIONS: ReadonlySet<string> = new Set([
  "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime",
  "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
]);

/**
 * gVisor's own mount handling (Debian's runsc, 2022-12; it has no `features` command): the
 * common options it applies. `rro` is not known to be among them, so it is not claimed.
 */
export const GVISOR_MOUNT_OPTIONS: readonly string[] = [
  "bind", "rbind", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable",
  "ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev", "noatime", "atime", "relatime", "strictatime",
];

/**
 * A kind's features from what its OCI runtime reports (`runc features`, for kinds that run
 * containers under runc): only what the kind truly carries through.
 * - runc: runc's own list, minus idmapped mounts (a pod's holder builds no user namespace
 *   for CRI userns, so containerd must not offer it).
 * - vmm: containers run under runc in the guest, their host bind mounts reach it through
 *   virtio-fs (host binds recursive, submounts announced to the guest): runc's list minus the
 *   recursive attributes but `rro`, the one shown to reach a submount through the share
 *   (e2e runtime-features).
 * - gvisor: runsc's own handling ({@link GVISOR_MOUNT_OPTIONS}).
 * - wasm: a module sees bind mounts as WASI preopens, which are always writable: nothing but binds.
 */
export function kindFeatures(kind: string, runc: OciFeatures | undefined): OciFeatures {
  // `linux` must be there: containerd 2.1 dereferences it unchecked (a panic at its start otherwise).
  const base: OciFeatures = { ociVersionMin: "1.0.0", ociVersionMax: runc?.ociVersionMax ?? "1.0.2", linux: {} };
  switch (kind) {
    case "runc": {
      if (!runc) return { ...base, mountOptions: [] };
      const linux = { ...(runc.linux ?? {}) };
      delete linux["mountExtensions"];
      return { ...runc, linux };
    }
    case "vmm":
      return { ...base, mountOptions: (runc?.mountOptions ?? []).filter((o) => o === "rro" || !RECURSIVE_ATTR_OPTIONS.has(o)) };
    case "gvisor":
      return { ...base, mountOptions: [...GVISOR_MOUNT_OPTIONS] };
    default:
      return { ...base, mountOptions: ["bind", "rbind"] };
  }
}

/** The binary RuntimeInfo protobuf `-info` prints: name, version, the options echoed, features as JSON in an Any. */
export function runtimeInfoBytes(name: string, version: string, req: InfoRequest, features: OciFeatures): Uint8Array {
  return toBinary(
    RuntimeInfoSchema,
    create(RuntimeInfoSchema, {
      name,
      version: { version, revision: "" },
      ...(req.options ? { options: req.options } : {}),
      features: { typeUrl: FEATURES_TYPE_URL, value: new TextEncoder().encode(JSON.stringify(features)) },
    }),
  );
}
