import { spawn } from "node:child_process";
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { defaultEndpointBinary, stopEndpoint } from "../src/daemon/endpoint-launcher.js";
import { Endpoint as EndpointService } from "../src/gen/kuasar/endpoint/v1/endpoint_pb.js";
import { TtrpcClient } from "../src/ttrpc/client.js";
import { serviceClient, type ServiceClient } from "../src/ttrpc/service.js";

/** A kuasar-endpoint a test started, in a temp dir of its own. */
export interface EndpointProcess {
  readonly dir: string;
  readonly paths: { control: string; backend: string; log: string };
  /** Pid of the relay it reported ready with (it changes when a relay is replaced: see status). */
  readonly firstRelayPid: number;
  /** A fresh control client (closed by {@link EndpointProcess.stop}). */
  control(): Promise<ServiceClient<typeof EndpointService>>;
  /** Waits until the control API answers with a relay pid other than `not` (a replaced relay). */
  waitRelay(not?: number): Promise<{ pid: number; custodyPid: number; relayGeneration: number }>;
  logs(): string;
  /** Stops it as an operator would (src/daemon/endpoint-launcher.ts stopEndpoint), then the dir is removed. */
  stop(): Promise<void>;
}

/** Starts build/native/kuasar-endpoint with its control and backend sockets in a new temp dir. */
export async function startEndpoint(): Promise<EndpointProcess> {
  const dir = mkdtempSync(join(tmpdir(), "endpoint-"));
  const paths = { control: join(dir, "endpoint.sock"), backend: join(dir, "kuasard.sock"), log: join(dir, "endpoint.log") };
  const logFd = openSync(paths.log, "a");
  const child = spawn(defaultEndpointBinary, ["--control", paths.control, "--backend", paths.backend, "--log-level", "debug"], {
    stdio: ["ignore", logFd, logFd, "pipe"],
  });
  closeSync(logFd);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const out = child.stdio[3] as Readable;
    out.setEncoding("utf8");
    out.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf);
    });
    out.once("end", () => reject(new Error(`kuasar-endpoint exited before ready:\n${readLog(paths.log)}`)));
  });
  const firstRelayPid = Number(/^ready (\d+)/.exec(line)?.[1]);
  const clients: TtrpcClient[] = [];
  const control = async () => {
    const c = await TtrpcClient.connect(paths.control);
    clients.push(c);
    return serviceClient(c, EndpointService);
  };
  const known = new Set<number>([child.pid!, firstRelayPid]);
  const ep: EndpointProcess = {
    dir,
    paths,
    firstRelayPid,
    control,
    async waitRelay(not?: number) {
      for (let i = 0; ; i++) {
        try {
          const c = await TtrpcClient.connect(paths.control);
          const st = await serviceClient(c, EndpointService)
            .status({}, { timeoutMs: 2000 })
            .finally(() => c.destroy());
          known.add(st.pid);
          known.add(st.custodyPid);
          if (st.pid !== not) return st;
        } catch (err) {
          if (i > 100) throw err;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    logs: () => readLog(paths.log),
    async stop() {
      for (const c of clients) c.destroy();
      await stopEndpoint(dir, [...known]);
      // The log outlives the dir for a look after a failure: KUASAR_TEST_KEEP_LOGS=DIR.
      const keep = process.env["KUASAR_TEST_KEEP_LOGS"];
      if (keep) cpSync(paths.log, join(keep, `endpoint-${Date.now()}.log`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return ep;
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
