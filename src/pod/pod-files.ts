import { mkdirSync, writeFileSync } from "node:fs";
import { hostname as hostHostname } from "node:os";
import { join } from "node:path";
import type { PodConfig } from "../sandbox/sandboxer.js";

/** Files a pod's containers bind-mount, as CRI would have set them up for a pause container. */
export interface PodFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/**
 * Writes /etc/hostname, /etc/hosts and /etc/resolv.conf for a pod into `dir`
 * (the sandbox's state dir). Host-network pods get the host's hostname and
 * copies of the host's hosts/resolv.conf, like containerd's CRI does.
 */
export function writePodFiles(dir: string, pod: PodConfig | undefined, readHost: (p: string) => string): PodFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: PodFiles = { hostname: join(dir, "hostname"), hosts: join(dir, "hosts"), resolvConf: join(dir, "resolv.conf") };
  const name = pod?.hostNetwork ? hostHostname() : pod?.hostname || hostHostname();
  writeFileSync(files.hostname, `${name}\n`, { mode: 0o644 });
  writeFileSync(files.hosts, pod?.hostNetwork ? readHost("/etc/hosts") : defaultHosts(name), { mode: 0o644 });
  writeFileSync(files.resolvConf, resolvConf(pod, () => readHost("/etc/resolv.conf")), { mode: 0o644 });
  return files;
}

function defaultHosts(name: string): string {
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters",
    `127.0.1.1\t${name}`,
    "",
  ].join("\n");
}

/** The pod's DNS config when CRI gave one, else the host's file. */
export function resolvConf(pod: PodConfig | undefined, hostFile: () => string): string {
  const dns = pod?.dns;
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) {
    try {
      return hostFile();
    } catch {
      return "";
    }
  }
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(" ")}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}
