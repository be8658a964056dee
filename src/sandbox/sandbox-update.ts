import type { Any } from "@bufbuild/protobuf/wkt";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Sandbox } from "../gen/containerd/types/sandbox_pb.js";
import { podConfigFromAny, POD_SANDBOX_CONFIG_URL } from "./cri-pod-config.js";
import type { PodResources, SandboxUpdate } from "./sandboxer.js";

/** Type URL of an OCI runtime spec (JSON) as containerd packs it. */
export const OCI_SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/** Update fields a sandboxer acts on; any other is refused with Unimplemented. */
const SUPPORTED_FIELDS = ["labels", "spec", "extensions.tasks"];

/**
 * Decodes a sandbox API Update into what a sandboxer applies: `labels`, `spec`
 * (the pod's resources, from a CRI PodSandboxConfig's `linux.resources` or an
 * OCI spec's `linux.resources`) and Kuasar's `extensions.tasks` (kept). No
 * fields means every field the sandbox carries. A field nothing here can apply
 * is refused, never acknowledged without effect.
 */
export function sandboxUpdateOf(sandbox: Sandbox | undefined, fields: readonly string[]): SandboxUpdate {
  if (!sandbox && fields.length > 0) throw new RuntimeError(Code.InvalidArgument, "update: fields given without a sandbox");
  const unsupported = fields.filter((f) => !SUPPORTED_FIELDS.includes(f));
  if (unsupported.length > 0) {
    throw new RuntimeError(Code.Unimplemented, `update: field(s) ${unsupported.map((f) => JSON.stringify(f)).join(", ")} cannot be changed; supported: ${SUPPORTED_FIELDS.join(", ")}`);
  }
  const all = fields.length === 0;
  const wants = (f: string) => all || fields.includes(f);
  const extensions = sandbox?.extensions ?? {};
  if (!all) {
    const extra = Object.keys(extensions).filter((k) => k !== "tasks" && fields.includes(`extensions.${k}`));
    if (extra.length > 0) throw new RuntimeError(Code.Unimplemented, `update: extension(s) ${extra.join(", ")} not supported`);
  }
  const spec = sandbox?.spec;
  if (fields.includes("spec") && (!spec || spec.typeUrl === "")) throw new RuntimeError(Code.InvalidArgument, "update: field \"spec\" given without a spec");
  const tasks = extensions["tasks"];
  if (fields.includes("extensions.tasks") && !tasks) throw new RuntimeError(Code.InvalidArgument, "update: field \"extensions.tasks\" given without extensions[\"tasks\"]");
  let resources = wants("spec") && spec && spec.typeUrl !== "" ? resourcesOfSpec(spec) : undefined;
  if (resources && !hasAnyPodResource(resources)) {
    if (fields.includes("spec")) throw new RuntimeError(Code.InvalidArgument, "update: the spec carries no linux.resources (memory limit, cpu quota/period/shares)");
    resources = undefined;
  }
  return {
    fields: [...fields],
    labels: { ...(sandbox?.labels ?? {}) },
    resources,
    tasksExtension: wants("extensions.tasks") && tasks ? tasksExtensionText(tasks) : undefined,
  };
}

export const hasAnyPodResource = (r: PodResources): boolean => r.memoryLimitBytes > 0 || r.cpuQuota !== 0 || r.cpuPeriod > 0 || r.cpuShares > 0;

/** Pod resources from a sandbox spec: a CRI PodSandboxConfig or an OCI runtime spec. */
function resourcesOfSpec(spec: Any): PodResources {
  const name = spec.typeUrl.slice(spec.typeUrl.lastIndexOf("/") + 1);
  if (name === POD_SANDBOX_CONFIG_URL) return podConfigFromAny(spec)!.resources;
  if (spec.typeUrl === OCI_SPEC_URL || spec.typeUrl.endsWith("/" + OCI_SPEC_URL)) return ociResources(spec.value);
  throw new RuntimeError(Code.InvalidArgument, `update: spec of type ${JSON.stringify(spec.typeUrl)}; want ${POD_SANDBOX_CONFIG_URL} or ${OCI_SPEC_URL}`);
}

function ociResources(value: Uint8Array): PodResources {
  let oci: { linux?: { resources?: unknown } };
  try {
    oci = JSON.parse(Buffer.from(value).toString("utf8")) as typeof oci;
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `update: spec is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return podResourcesOfLinux(oci?.linux?.resources, "update: spec linux.resources");
}

/** The pod-level subset of OCI `LinuxResources` (memory limit, CPU quota/period/shares); `what` names it in errors. */
export function podResourcesOfLinux(resources: unknown, what: string): PodResources {
  const r = resources as { memory?: { limit?: unknown }; cpu?: { quota?: unknown; period?: unknown; shares?: unknown } } | undefined | null;
  const num = (field: string, v: unknown): number => {
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new RuntimeError(Code.InvalidArgument, `${what}.${field}: want an integer`);
    return v;
  };
  return {
    memoryLimitBytes: Math.max(0, num("memory.limit", r?.memory?.limit)),
    cpuQuota: num("cpu.quota", r?.cpu?.quota),
    cpuPeriod: num("cpu.period", r?.cpu?.period),
    cpuShares: num("cpu.shares", r?.cpu?.shares),
  };
}

/** Kuasar's tasks extension is JSON `{"tasks":[{"task_id":...,"resources":...}]}`: checked, kept as text. */
function tasksExtensionText(a: Any): string {
  const text = Buffer.from(a.value).toString("utf8");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `update: extensions["tasks"] is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof v !== "object" || v === null || !Array.isArray((v as { tasks?: unknown }).tasks)) {
    throw new RuntimeError(Code.InvalidArgument, "update: extensions[\"tasks\"]: want {\"tasks\": [...]}");
  }
  return text;
}
