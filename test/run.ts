/**
 * Test entry point (`npm test` ends here; `node dist/test/run.js [filter...] [!excluded...] [--node-test-flag...]`,
 * e.g. `node dist/test/run.js e2e/` for the end-to-end tests only).
 *
 * Outside: makes the run's own cgroup (`testing/run-cgroup.ts`) and re-executes itself in it as
 * pid 1 of fresh cgroup/mount/pid/net/uts/ipc namespaces; removes that cgroup when the run ends.
 * Inside: private mounts, cgroup hierarchies remounted so their root is the run's cgroup, tmpfs over /run/containerd, /run/netns, /var/lib/cni, /run/kuasar,
 * `lo` up, then one `node --test --test-concurrency=1` over every `dist/test/**\/*.test.js`
 * (unit and e2e)
 * (sorted; plain arguments keep only files whose path contains one of them, `--x` arguments go
 * to `node --test`). Exits with node's code; everything left inside dies with pid 1.
 *
 * `node --test` runs under `tini -s` (package tini; env `TINI_BIN`, default /usr/bin/tini) as a
 * child subreaper: shims daemonise away from containerd and would otherwise be reparented to
 * this pid 1, which (being Node) cannot reap them and would collect zombies.
 */
import { spawn } from "node:child_process";
import { access, readdir } from "node:fs/promises";
import { constants } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../testing/isolation.js";

const here = dirname(fileURLToPath(import.meta.url));

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findTests(p)));
    else if (e.isFile() && e.name.endsWith(".test.js")) out.push(p);
  }
  return out.sort();
}

async function inner(args: readonly string[]): Promise<number> {
  await setupIsolation();
  const filters = args.filter((a) => !a.startsWith("--") && !a.startsWith("!"));
  const excluded = args.filter((a) => a.startsWith("!")).map((a) => a.slice(1));
  const nodeFlags = args.filter((a) => a.startsWith("--"));
  const files = (await findTests(here)).filter((f) => {
    const rel = relative(here, f);
    return (filters.length === 0 || filters.some((flt) => rel.includes(flt))) && !excluded.some((x) => rel.includes(x));
  });
  if (files.length === 0) {
    console.error(`test: no *.test.js under ${here}${filters.length > 0 ? ` matching ${filters.join(", ")}` : ""}`);
    return 1;
  }
  const testArgv = [process.execPath, "--test", "--test-concurrency=1", ...nodeFlags, ...files];
  const tini = process.env["TINI_BIN"] ?? "/usr/bin/tini";
  const haveTini = await access(tini).then(
    () => true,
    () => false,
  );
  if (!haveTini) console.error(`test: ${tini} missing (run packaging/install-deps.sh); orphaned shims will stay zombies`);
  const [file, ...argv] = haveTini ? [tini, "-s", "--", ...testArgv] : testArgv;
  const child = spawn(file as string, argv, { stdio: "inherit", env: process.env });
  // pid 1 gets only signals it handles: pass them on so the tests can clean up.
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? 128 + (signal !== null ? constants.signals[signal] : 0)));
  });
}

const args = process.argv.slice(2);
const code =
  process.env[ISOLATION_ENV] === "1" ? await inner(args) : await reexecIsolated(fileURLToPath(import.meta.url), args);
process.exit(code);
