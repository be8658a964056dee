import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, NamespaceMode, type ContainerConfigSchema, type PodSandboxConfigSchema } from "../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { BUSYBOX_IMAGE } from "./busybox-image.js";
import type { CriClient } from "./cri.js";

type PodConfig = MessageInitShape<typeof PodSandboxConfigSchema>;
type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

/** A CRI pod config as kubelet would send it (pod network unless `hostNetwork`). */
export function podConfig(name: string, logDirectory: string, opts: { hostNetwork?: boolean; sharedPid?: boolean } = {}): PodConfig {
  return {
    metadata: { name, uid: randomBytes(8).toString("hex"), namespace: "default", attempt: 0 },
    hostname: name,
    logDirectory,
    labels: { app: name },
    linux: {
      securityContext: {
        namespaceOptions: {
          network: opts.hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD,
          pid: opts.sharedPid ? NamespaceMode.POD : NamespaceMode.CONTAINER,
          ipc: NamespaceMode.POD,
        },
      },
    },
  };
}

/**
 * A busybox container running `sh -c script`, logging to `<name>.log`, with the
 * namespace options kubelet sends (its own pid namespace unless `sharedPid`).
 */
export function shContainer(name: string, script: string, opts: { sharedPid?: boolean } = {}): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: BUSYBOX_IMAGE },
    command: ["sh", "-c", script],
    logPath: `${name}.log`,
    linux: {
      securityContext: {
        namespaceOptions: { network: NamespaceMode.POD, pid: opts.sharedPid ? NamespaceMode.POD : NamespaceMode.CONTAINER, ipc: NamespaceMode.POD },
      },
    },
  };
}

/** RunPodSandbox + CreateContainer + StartContainer for each container; returns ids. */
export async function runPod(cri: CriClient, handler: string, config: PodConfig, containers: ContainerConfig[]): Promise<{ podId: string; ids: string[] }> {
  const { podSandboxId } = await cri.runtime.runPodSandbox({ config, runtimeHandler: handler }, { timeoutMs: 120_000 });
  const ids: string[] = [];
  for (const c of containers) {
    const { containerId } = await cri.runtime.createContainer({ podSandboxId, config: c, sandboxConfig: config }, { timeoutMs: 120_000 });
    await cri.runtime.startContainer({ containerId }, { timeoutMs: 120_000 });
    ids.push(containerId);
  }
  return { podId: podSandboxId, ids };
}

/** Polls ContainerStatus until the container exited; returns its status. */
export async function waitExited(cri: CriClient, containerId: string, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await cri.runtime.containerStatus({ containerId });
    if (status?.state === ContainerState.CONTAINER_EXITED) return status;
    if (Date.now() > until) throw new Error(`container ${containerId} still ${status?.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls until `file` contains `text` (CRI log files are written asynchronously). */
export async function waitForLog(file: string, text: string, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const body = await readFile(file, "utf8").catch(() => "");
    if (body.includes(text)) return body;
    if (Date.now() > until) throw new Error(`${file} has no ${JSON.stringify(text)} after ${timeoutMs} ms:\n${body}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The CRI log file of a container of a pod config. */
export function logFile(config: PodConfig, c: ContainerConfig): string {
  return join(config.logDirectory ?? "", c.logPath ?? "");
}

export const decodeOut = (b: Uint8Array): string => new TextDecoder().decode(b);
