import { readFileSync } from "node:fs";

/** The [Service] settings of a unit file a test runs as systemd would (last value of a key wins, as in systemd). */
export interface ServiceUnit {
  service: Record<string, string>;
  /** All values of multi-valued keys (EnvironmentFile=). */
  all(key: string): string[];
}

/** Parses the [Service] section of a unit file (no drop-ins, no specifiers: ours use none). */
export function readServiceUnit(path: string): ServiceUnit {
  const service: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  let section = "";
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    if (section !== "Service") continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    service[key] = value;
    (multi[key] ??= []).push(value);
  }
  return { service, all: (key) => multi[key] ?? [] };
}

/** Variables of EnvironmentFile= files (`-path`: optional), as KEY=VALUE lines with optional quotes. */
export function environmentFiles(unit: ServiceUnit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const spec of unit.all("EnvironmentFile")) {
    const optional = spec.startsWith("-");
    let text: string;
    try {
      text = readFileSync(optional ? spec.slice(1) : spec, "utf8");
    } catch (err) {
      if (optional) continue;
      throw err;
    }
    for (const l of text.split("\n")) {
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(l);
      if (m) env[m[1]!] = m[2]!.trim().replace(/^(["'])(.*)\1$/, "$2");
    }
  }
  return env;
}

/** ExecStart= as argv (see {@link execArgv}). */
export function execStartArgv(unit: ServiceUnit, env: Record<string, string>): string[] {
  return execArgv(unit, "ExecStart", env);
}

/**
 * An Exec*= line as argv, as systemd expands it: `$VAR` alone becomes that variable's words
 * (none when unset), `${VAR}` inside a word its value.
 */
export function execArgv(unit: ServiceUnit, key: "ExecStart" | "ExecStopPost", env: Record<string, string>): string[] {
  const line = unit.service[key];
  if (!line) throw new Error(`unit has no ${key}=`);
  return line
    .split(/\s+/)
    .flatMap((w) => {
      const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
      if (whole) return (env[whole[1]!] ?? "").split(/\s+/).filter((x) => x !== "");
      return [w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? "")];
    });
}
