import { runCliCommand } from "../../oci-runtime/cli-command.js";

/** What one runsc build offers, read from `runsc --version` and `runsc flags`. */
export interface RunscFeatures {
  /** The version line's release, e.g. `0.0~20240729.0`; "" when it printed none. */
  version: string;
  /** The platforms `--platform` accepts, the build's default first. */
  platforms: string[];
  /** Whether the build has `--directfs` (the sentry opens container files itself: no gofer round trips). */
  directfs: boolean;
}

/** Reads the features of `binary` (two short commands). */
export async function readRunscFeatures(binary: string, timeoutMs: number): Promise<RunscFeatures> {
  const [version, flags] = await Promise.all([
    runCliCommand("runsc", binary, [], ["--version"], timeoutMs),
    // `runsc flags` prints the global flags to stderr on some builds: take both streams.
    runCliCommand("runsc", "/bin/sh", [], ["-c", 'exec "$0" flags 2>&1', binary], timeoutMs),
  ]);
  return parseRunscFeatures(version, flags);
}

/** {@link RunscFeatures} from what `runsc --version` and `runsc flags` printed. */
export function parseRunscFeatures(versionText: string, flagsText: string): RunscFeatures {
  const version = /runsc version (\S+)/.exec(versionText)?.[1] ?? "";
  // "specifies which platform to use: systrap (default), ptrace, kvm."
  const list = /which platform to use:\s*([^.\n]*)/.exec(flagsText)?.[1] ?? "";
  const named = list.split(",").map((p) => p.trim()).filter(Boolean);
  const isDefault = (p: string) => /\(default\)/.test(p);
  const platforms = [...named.filter(isDefault), ...named.filter((p) => !isDefault(p))].map((p) => p.replace(/\s*\(default\)/, ""));
  return { version, platforms: platforms.length > 0 ? platforms : ["ptrace"], directfs: /^\s*-directfs\b/m.test(flagsText) };
}
