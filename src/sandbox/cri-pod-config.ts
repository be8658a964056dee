import { fromBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { NamespaceMode, PodSandboxConfigSchema, type LinuxContainerResources } from "../gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import type { PodConfig, PodResources } from "./sandboxer.js";

/** Type URL containerd 2.x uses for the CRI config in `ControllerCreateRequest.options`. */
export const POD_SANDBOX_CONFIG_URL = "runtime.v1.PodSandboxConfig";

/** Decodes the CRI pod config containerd passes as Create options; undefined when none was sent. */
export function podConfigFromAny(options: Any | undefined): PodConfig | undefined {
  if (!options || options.typeUrl === "") return undefined;
  const name = options.typeUrl.slice(options.typeUrl.lastIndexOf("/") + 1);
  if (name !== POD_SANDBOX_CONFIG_URL) {
    throw new RuntimeError(Code.InvalidArgument, `sandbox options: unexpected type ${JSON.stringify(options.typeUrl)}, want ${POD_SANDBOX_CONFIG_URL}`);
  }
  let c;
  try {
    c = fromBinary(PodSandboxConfigSchema, options.value);
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `sandbox options: ${(err as Error).message}`, { cause: err });
  }
  const ns = c.linux?.securityContext?.namespaceOptions;
  return {
    name: c.metadata?.name ?? "",
    namespace: c.metadata?.namespace ?? "",
    uid: c.metadata?.uid ?? "",
    attempt: c.metadata?.attempt ?? 0,
    hostname: c.hostname,
    logDirectory: c.logDirectory,
    dns: {
      servers: [...(c.dnsConfig?.servers ?? [])],
      searches: [...(c.dnsConfig?.searches ?? [])],
      options: [...(c.dnsConfig?.options ?? [])],
    },
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    cgroupParent: c.linux?.cgroupParent ?? "",
    hostNetwork: ns?.network === NamespaceMode.NODE,
    hostPid: ns?.pid === NamespaceMode.NODE,
    hostIpc: ns?.ipc === NamespaceMode.NODE,
    sharedPid: ns?.pid === NamespaceMode.POD,
    sysctls: { ...(c.linux?.sysctls ?? {}) },
    resources: podResources(c.linux?.resources),
    privileged: c.linux?.securityContext?.privileged ?? false,
  };
}

/** CRI resources to the pod-level subset; absent means unlimited. */
export function podResources(r: LinuxContainerResources | undefined): PodResources {
  return {
    cpuPeriod: Number(r?.cpuPeriod ?? 0n),
    cpuQuota: Number(r?.cpuQuota ?? 0n),
    cpuShares: Number(r?.cpuShares ?? 0n),
    memoryLimitBytes: Number(r?.memoryLimitInBytes ?? 0n),
  };
}
