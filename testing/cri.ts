import { readdir, readFile } from "node:fs/promises";
import { GrpcClient } from "../src/grpc/client.js";
import { ImageService, RuntimeService } from "../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import type { Containerd } from "./containerd.js";

/** A CRI client (runtime.v1) over containerd's gRPC socket, like kubelet's. */
export function criClient(c: Containerd) {
  const client = new GrpcClient(c.address);
  return { runtime: client.service(RuntimeService), image: client.service(ImageService), close: () => client.close() };
}

export type CriClient = ReturnType<typeof criClient>;

/** Processes in this pid namespace whose command name starts with `containerd-shim`. */
export async function shimProcesses(): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const comm = await readFile(`/proc/${e}/comm`, "utf8").catch(() => "");
    if (comm.startsWith("containerd-shim")) out.push(Number(e));
  }
  return out;
}
