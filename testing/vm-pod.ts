import { execFileSync } from "node:child_process";
import { listProcesses } from "./process-table.js";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { release } from "node:os";
import { defaultGuestDir } from "../src/sandboxers/vmm/guest-dir.js";
import { shContainer } from "./cri-pod.js";

/** The guest kernel's release (what `uname -r` prints inside a VM pod) and the host's. */
export function kernelReleases(): { guest: string; host: string } {
  return { guest: readFileSync(`${defaultGuestDir}/kernel-release`, "utf8").trim(), host: release() };
}

/** kuasard TOML for the vmm sandboxer in tests: every VM small; the KVM probe runs for real. */
export const VMM_TEST_CONFIG = `
[sandboxers.vmm.hypervisor]
memory_in_mb = 192
kvm_probe_timeout_ms = 8000
`;

/** A container serving `text` over HTTP on `port` (busybox httpd), after printing its kernel release. */
export function webContainer(name: string, port: number, text: string) {
  return shContainer(name, `uname -r; mkdir -p /tmp/www && echo ${text} > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`);
}

/** A container fetching `url` (with retries: its neighbour may start later) and printing the body. */
export function fetchContainer(name: string, url: string) {
  return shContainer(name, `for i in $(seq 1 60); do wget -qO- ${url} && break; sleep 1; done; exec sleep 100000`);
}

/**
 * Gives the test's own network namespace an address on the e2e CNI bridge so
 * pod IPs answer from "the host" (the bridge lives in the runner's private netns).
 */
export function joinPodBridge(bridge = "kuasar0", address = "192.0.2.254/24"): void {
  try {
    execFileSync("ip", ["addr", "add", address, "dev", bridge], { stdio: "pipe" });
  } catch (err) {
    if (!/File exists|Address already assigned/i.test(String((err as { stderr?: Buffer }).stderr ?? ""))) throw err;
  }
}

/** GET http://ip:port/ with retries; resolves with the body. */
export async function httpGet(ip: string, port: number, timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = get({ host: ip, port, path: "/", timeout: 5000 }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve(body));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`GET http://${ip}:${port}/ failed: ${String(last)}`);
}

/** Live pids of processes whose argv[0] is `binaryBase` or ends in `/binaryBase` (for leak checks; only reads /proc). */
export async function processesOf(binaryBase: string): Promise<number[]> {
  return (await listProcesses())
    .filter((p) => {
      const argv0 = p.cmdline[0] ?? "";
      return argv0 === binaryBase || argv0.endsWith(`/${binaryBase}`);
    })
    .map((p) => p.pid);
}
