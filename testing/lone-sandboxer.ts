import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { stopEndpoint } from "../src/daemon/endpoint-launcher.js";
import { Controller } from "../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcClient } from "../src/grpc/client.js";
import { startSandboxer, type SandboxerProcess } from "./kuasard.js";

const sandboxApi = (client: GrpcClient) => client.service(Controller);

/** A runc-sandboxer a test talks to directly, and its Sandbox API client. */
export interface LoneSandboxer {
  sandboxer: SandboxerProcess;
  /** containerd's Sandbox API (Controller) on its socket, in namespace k8s.io. */
  api: ReturnType<typeof sandboxApi>;
  /** Its state dir (`--dir`). */
  stateDir: string;
}

/**
 * A runc-sandboxer on its own sockets under a fresh `/tmp/<prefix>XXXXXX` dir, with no
 * containerd (what these tests send never reaches one); `extraToml` becomes its config.
 * Stopped after the test, with its endpoint, by recorded pid; the dir is removed.
 */
export async function loneRuncSandboxer(t: TestContext, o: { prefix: string; extraToml?: string }): Promise<LoneSandboxer> {
  const dir = mkdtempSync(`/tmp/${o.prefix}`);
  const listen = join(dir, "runc.sock");
  const args: string[] = ["--state-dir", join(dir, "ks")];
  if (o.extraToml) {
    writeFileSync(join(dir, "config.toml"), o.extraToml);
    args.push("--config", join(dir, "config.toml"));
  }
  const sandboxer = startSandboxer({ program: "runc-sandboxer", listen, dir: join(dir, "kr"), containerdTtrpcAddress: join(dir, "none.sock"), args });
  const { endpointPid, custodyPid } = await sandboxer.ready;
  const client = new GrpcClient(listen, { namespace: "k8s.io" });
  t.after(async () => {
    client.close();
    await sandboxer.stop();
    await stopEndpoint(join(dir, "ks"), [endpointPid, custodyPid]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { sandboxer, api: sandboxApi(client), stateDir: join(dir, "kr") };
}
