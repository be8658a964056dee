import { join } from "node:path";
import { configError, defaultsOf, resolveTable, tomlKey, tomlKeysOf, type OptionSpec, type OptionTable } from "../config/option-table.js";
import { shortSocketPath } from "../fs/long-socket-path.js";
import { MAX_SOCKET_PATH_BYTES } from "../fs/unix-socket.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { logLevels, type LogLevel } from "../log/logger.js";
import { parseListenAddress } from "../observe/listen-address.js";
import type { AnySandboxerKind } from "../sandboxers/sandboxer-kind.js";

/**
 * Which Sandbox API a socket speaks: `upstream` (containerd 2.x, and the kuasar-io fork's
 * 2.0-based branch) or `kuasar-io` (the kuasar-io containerd fork's 1.7.0-based `main`:
 * same service name, other field numbers, Prepare/Purge/UpdateResources). The two cannot
 * be told apart on the wire, so each socket is told.
 */
export const sandboxApis = ["upstream", "kuasar-io"] as const;
export type SandboxApi = (typeof sandboxApis)[number];

/** The keys every `[sandboxers.<kind>]` table takes: where the sandboxer is served and keeps its state. */
export interface ServingOptions {
  /** Sandbox API socket (Kuasar `--listen`). */
  listen: string;
  /** The API `listen` speaks (`--sandbox-api`). */
  sandboxApi: SandboxApi;
  /** A second Sandbox API socket speaking the kuasar-io fork's API; "" for none. */
  kuasarIoListen: string;
  /** State directory (Kuasar `--dir`). */
  dir: string;
}

/** The serving keys of one kind; their defaults depend on the kind's name. */
export function servingTable(kind: string): OptionTable<ServingOptions> {
  return {
    listen: { kind: "path", maxBytes: MAX_SOCKET_PATH_BYTES, default: `/run/${kind}-sandboxer.sock`, doc: "Sandbox API socket (--listen)." },
    sandboxApi: { kind: "enum", values: sandboxApis, default: "upstream", doc: "The Sandbox API listen speaks: upstream or kuasar-io (--sandbox-api)." },
    kuasarIoListen: { kind: "string", default: "", doc: `A second socket speaking the kuasar-io fork's API; "" for none.` },
    dir: { kind: "path", default: `/run/kuasar-${kind}`, doc: "State directory (--dir)." }, // its length: checkDirLength
  };
}

/** Options of one sandboxer: the serving keys, and the kind's own keys as its table read them. */
export interface SandboxerOptions extends ServingOptions {
  /** The kind's own keys (its `options` table), handed back to the kind when it is made. */
  own: unknown;
}

/** Options of kuasard (TOML keys are the snake_case of these names). */
export interface KuasardOptions {
  /** Log level (`--log-level`). */
  logLevel: LogLevel;
  /** Sandboxers to run (`--sandboxers runc,...`, or the `[sandboxers.<kind>]` tables present). */
  sandboxers: string[];
  /** Where kuasard and kuasar-endpoint keep their own sockets (`--state-dir`). */
  stateDir: string;
  /** containerd's ttrpc socket, where task events go (`--containerd-ttrpc-address`). */
  containerdTtrpcAddress: string;
  /** Socket of the shim v2 bridge for containerd 1.7 (`--shim-listen`); "" disables the bridge. */
  shimListen: string;
  /** Seconds a pod's containers get when the bridge's sandbox task gets SIGTERM or SIGINT. */
  shimStopGraceSecs: number;
  /** Per-kind sandboxer options, for every known kind (enabled or not). */
  sandboxer: Record<string, SandboxerOptions>;
  /** What kuasard's servers keep for their clients at most (TOML table `[limits]`). */
  limits: ServerLimits;
  /** `host:port` of the Prometheus endpoint (`GET /metrics`); "" (the default) serves none and loads nothing of it. */
  metricsAddress: string;
  /** File appended with one JSON line per pod phase and RPC served (diagnostics, read by the benchmark); "" (the default) writes none. */
  phaseLog: string;
  /** OpenTelemetry tracing (TOML table `[tracing]`); off unless `otlp_endpoint` is set. */
  tracing: TracingOptions;
}

/** Where spans of Sandbox and Task API calls go. */
export interface TracingOptions {
  /** OTLP/HTTP (protobuf) traces URL, e.g. `http://127.0.0.1:4318/v1/traces`; "" (the default): no tracing. */
  otlpEndpoint: string;
  /** `service.name` of the spans. */
  serviceName: string;
}

export const tracingTable: OptionTable<TracingOptions> = {
  otlpEndpoint: { kind: "string", default: "", doc: `OTLP/HTTP (protobuf) traces URL, e.g. http://127.0.0.1:4318/v1/traces; "" traces nothing (and loads nothing of it).` },
  serviceName: { kind: "string", nonEmpty: true, default: "kuasard", doc: "service.name of the spans." },
};

/**
 * Bounds of the sockets kuasard listens on: each Sandbox API socket and the
 * internal socket (where kuasar-endpoint's own connections are exempt).
 */
export interface ServerLimits {
  /** Most connections open at once, per socket. */
  maxConnections: number;
  /** A connection with no call for this long is closed, in ms (containerd and the endpoint re-dial). */
  idleTimeoutMs: number;
  /** A connection stalled this long in the middle of a frame, or not answering a ping, is closed, in ms. */
  stallTimeoutMs: number;
  /** How often gRPC connections are pinged, in ms. */
  pingIntervalMs: number;
}

const MAX_TIMER_MS = 0x7fffffff;
export const limitsTable: OptionTable<ServerLimits> = {
  maxConnections: { kind: "int", min: 1, max: 1 << 20, default: 256, doc: "Per socket; one more is closed at once." },
  idleTimeoutMs: { kind: "int", min: 1, max: MAX_TIMER_MS, default: 5 * 60_000, doc: "A connection with no call this long is closed (clients re-dial)." },
  stallTimeoutMs: { kind: "int", min: 1, max: MAX_TIMER_MS, default: 10_000, doc: "Stalled mid-frame, or an unanswered gRPC ping: closed." },
  pingIntervalMs: { kind: "int", min: 1, max: MAX_TIMER_MS, default: 30_000, doc: "gRPC keepalive pings." },
};
export const defaultServerLimits: Readonly<ServerLimits> = defaultsOf(limitsTable);

/** kuasard's top-level keys (`sandboxers` and the tables aside). */
export type TopOptions = Omit<KuasardOptions, "sandboxer" | "limits" | "tracing">;
export const topTable: OptionTable<TopOptions> = {
  logLevel: { kind: "enum", values: logLevels, default: "info", doc: "Log level (--log-level)." },
  sandboxers: { kind: "stringList", default: ["runc"], doc: "Sandboxers to run (--sandboxers), or the [sandboxers.<kind>] tables present." },
  stateDir: { kind: "path", default: "/run/kuasar", doc: "kuasard's and kuasar-endpoint's own sockets (--state-dir)." }, // its length: checkDirLength
  containerdTtrpcAddress: { kind: "path", maxBytes: MAX_SOCKET_PATH_BYTES, default: "/run/containerd/containerd.sock.ttrpc", doc: "containerd's ttrpc socket, where task events go." },
  shimListen: { kind: "string", default: "/run/kuasar/shim.sock", doc: `The shim v2 bridge for containerd 1.7 ("" disables it).` },
  shimStopGraceSecs: { kind: "int", min: 0, max: 3600, default: 10, doc: "Seconds a pod's containers get to exit when its sandbox task gets SIGTERM or SIGINT on the bridge (SIGKILL: none)." },
  metricsAddress: { kind: "string", default: "", doc: `Prometheus metrics: GET /metrics on host:port, e.g. "127.0.0.1:9325"; "" serves none (and loads nothing of it).` },
  phaseLog: { kind: "string", default: "", doc: `Diagnostics: a file appended with one JSON line per pod phase and RPC served (how long each took inside kuasard); "" writes none.` },
};

/** The flags that stand for top-level keys (camelCase names, as kuasard-main passes them). */
const TOP_FLAGS = ["logLevel", "sandboxers", "stateDir", "containerdTtrpcAddress", "shimListen"] as const;
/** The flags that stand for one sandboxer's serving keys (single-kind binaries). */
const SINGLE_KIND_FLAGS = ["listen", "dir", "sandboxApi"] as const;

/** Which kinds' tables have a key (for "it belongs to ..." in errors). */
function keyOwners(kinds: readonly AnySandboxerKind[], except?: string): (key: string) => string | undefined {
  return (key) => {
    const owners = kinds.filter((k) => k.name !== except && tomlKeysOf(k.options).some((t) => t === key || t.startsWith(`${key}.`))).map((k) => k.name);
    return owners.length > 0 ? owners.join(", ") : undefined;
  };
}

const asTable = (name: string, v: unknown): Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw configError("", name, "expected a table");
  return v as Record<string, unknown>;
};

/**
 * Builds options from a parsed TOML document and command-line overrides (flags win), for the
 * given kinds. Every error names the table and key; a key of another kind's table, or of no
 * table, is an error (never ignored).
 */
export function resolveKuasardOptions(toml: Record<string, unknown>, flags: Partial<Record<string, unknown>>, kinds: readonly AnySandboxerKind[]): KuasardOptions {
  const aliases = new Map(kinds.flatMap((k) => (k.kuasarTopLevelTables ?? []).map((t) => [t, k] as const)));
  const { sandboxers: tomlSandboxers, limits: limitsInput, tracing: tracingInput, ...rest } = toml;
  const topInput: Record<string, unknown> = {};
  const aliased = new Map<string, unknown>();
  for (const [key, value] of Object.entries(rest)) {
    if (aliases.has(key)) aliased.set(key, value);
    else topInput[key] = value;
  }
  const limits = resolveTable(limitsTable, limitsInput === undefined ? {} : asTable("limits", limitsInput), "limits");
  const tracing = resolveTable(tracingTable, tracingInput === undefined ? {} : asTable("tracing", tracingInput), "tracing");
  if (tracing.otlpEndpoint !== "" && !/^https?:\/\/[^/\s]+/.test(tracing.otlpEndpoint)) {
    throw configError("tracing", "otlp_endpoint", `want an http(s) URL such as http://127.0.0.1:4318/v1/traces, got ${JSON.stringify(tracing.otlpEndpoint)}`);
  }

  let kindTables: Record<string, unknown> = {};
  if (Array.isArray(tomlSandboxers) || typeof tomlSandboxers === "string") topInput["sandboxers"] = tomlSandboxers;
  else if (tomlSandboxers !== undefined) {
    kindTables = asTable("sandboxers", tomlSandboxers);
    topInput["sandboxers"] = Object.keys(kindTables);
  }
  for (const f of TOP_FLAGS) if (flags[f] !== undefined) topInput[tomlKey(f)] = flags[f];
  const top = resolveTable(topTable, topInput, "", keyOwners(kinds));
  // A single-kind binary's state dir is its --dir.
  const stateDirSource = flags["stateDir"] === undefined ? "config state_dir" : flags["stateDir"] === flags["dir"] ? "--dir" : "--state-dir";
  checkDirLength(stateDirSource, top.stateDir);
  if (top.metricsAddress !== "") {
    try {
      parseListenAddress(top.metricsAddress);
    } catch (err) {
      throw configError("", "metrics_address", (err as Error).message);
    }
  }
  if (top.shimListen !== "" && (!top.shimListen.startsWith("/") || Buffer.byteLength(top.shimListen) > MAX_SOCKET_PATH_BYTES)) {
    throw configError("", "shim_listen", `expected an absolute socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, or ""`);
  }
  const known = kinds.map((k) => k.name);
  for (const k of [...top.sandboxers, ...Object.keys(kindTables)]) {
    if (!known.includes(k)) throw configError("", "sandboxers", `unknown kind ${JSON.stringify(k)} (known: ${known.join(", ")})`);
  }
  if (SINGLE_KIND_FLAGS.some((f) => flags[f] !== undefined) && top.sandboxers.length !== 1) {
    throw new RuntimeError(Code.InvalidArgument, "--listen, --dir and --sandbox-api apply to a single sandboxer; use the config file for several");
  }

  const sandboxer: Record<string, SandboxerOptions> = {};
  for (const kind of kinds) {
    const name = `sandboxers.${kind.name}`;
    const input = kindTables[kind.name] === undefined ? {} : { ...asTable(name, kindTables[kind.name]) };
    const single = top.sandboxers.length === 1 && top.sandboxers[0] === kind.name;
    const servingInput: Record<string, unknown> = {};
    const ownInput: Record<string, unknown> = {};
    const serving = servingTable(kind.name);
    const servingKeys = new Set(Object.keys(serving).map(tomlKey));
    for (const [key, value] of Object.entries(input)) (servingKeys.has(key) ? servingInput : ownInput)[key] = value;
    if (single) for (const f of SINGLE_KIND_FLAGS) if (flags[f] !== undefined) servingInput[tomlKey(f)] = flags[f];
    const resolved = resolveTable(serving, servingInput, name);
    const own = resolveTable(kind.options, ownInput, name, keyOwners(kinds, kind.name)) as Record<string, unknown>;
    for (const [alias, owner] of aliases) {
      if (owner !== kind || !aliased.has(alias)) continue;
      if (ownInput[alias] !== undefined) throw configError(name, alias, `given twice: here and as the top-level [${alias}]`);
      const spec = (kind.options as Record<string, OptionSpec<unknown>>)[alias];
      if (spec?.kind === "table") own[alias] = resolveTable(spec.table, asTable(alias, aliased.get(alias)), alias);
    }
    const k = resolved.kuasarIoListen;
    if (k !== "" && (!k.startsWith("/") || Buffer.byteLength(k) > MAX_SOCKET_PATH_BYTES)) {
      throw configError(name, "kuasar_io_listen", `expected an absolute socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, or ""`);
    }
    if (k !== "" && k === resolved.listen) throw configError(name, "kuasar_io_listen", `the same socket as listen; set sandbox_api = "kuasar-io" to have listen speak the fork's API`);
    checkDirLength(single && flags["dir"] !== undefined ? "--dir" : `config [${name}] dir`, resolved.dir);
    sandboxer[kind.name] = { ...resolved, own };
  }
  return { ...top, sandboxer, limits, tracing };
}

/**
 * Longest --dir / --state-dir, in bytes. Sockets below them have no limit (see
 * src/fs/long-socket-path.ts); what remains is PATH_MAX (4096) for the files the runtime
 * makes below them: pod and container dirs named by ids (at most 76 bytes each), rootfs
 * mount points, a guest's shared dir. 3072 leaves 1 KiB for those.
 */
export const MAX_DIR_BYTES = 3072;
/** Longest name of one path component (NAME_MAX): mkdir fails with ENAMETOOLONG beyond it. */
const MAX_NAME_BYTES = 255;

/** Rejects a state directory the runtime truly cannot use, naming the flag or key it came from. */
function checkDirLength(source: string, dir: string): void {
  const n = Buffer.byteLength(dir);
  if (n > MAX_DIR_BYTES) {
    throw new RuntimeError(Code.InvalidArgument, `${source}: ${n} bytes is too long; at most ${MAX_DIR_BYTES}, so that the runtime's files below it stay under PATH_MAX (4096)`);
  }
  const long = dir.split("/").find((c) => Buffer.byteLength(c) > MAX_NAME_BYTES);
  if (long !== undefined) {
    throw new RuntimeError(Code.InvalidArgument, `${source}: the component ${JSON.stringify(`${long.slice(0, 40)}…`)} is ${Buffer.byteLength(long)} bytes; a file name may have at most ${MAX_NAME_BYTES}`);
  }
}

/** Where a sandboxer's Task API socket lives (served by kuasar-endpoint, dialled by containerd by name). */
export function taskSocketPath(o: SandboxerOptions): string {
  return shortSocketPath(join(o.dir, "task.sock"));
}

/** Where container bundles made for the kuasar-io fork's Prepare live: beside the pods, never inside `pods/` (whose entries are judged as pods). */
export function preparedBundlesDir(o: SandboxerOptions): string {
  return join(o.dir, "bundles");
}
