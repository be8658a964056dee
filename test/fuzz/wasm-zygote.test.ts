import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fuzzSeed, Prng } from "./fuzz-kit.js";
import { processesWithCwd, wasmEdgePodPrograms, wasmEdgePodSkip } from "../../testing/wasm-pod-host.js";

/**
 * The wasm zygote's one connection (a socketpair from kuasard) gets lines of junk, damaged
 * requests and requests it must refuse, with the few valid ones aimed only at a stand-in holder
 * and a scratch dir (a request names a process whose namespaces the fork joins and a dir it
 * listens in: random ones could reach anything on the machine). Whatever comes, it answers
 * every line once, in order, under the line's id, never exits, and still makes a host.
 */

const LINES = 400;

const programs = wasmEdgePodPrograms;
const skip = wasmEdgePodSkip;

describe("fuzz: the wasm zygote's connection", { skip }, () => {
  it(`answers ${LINES} junk, damaged and refused lines one each, in order, and keeps serving`, async (t) => {
    const prng = new Prng(fuzzSeed("wasm-zygote"));
    const dir = await mkdtemp("/tmp/kzf-");
    const holder = spawn("/usr/bin/unshare", ["--net", "--ipc", "--uts", "/bin/sleep", "300"], { stdio: "ignore" });
    const [bin, ...args] = programs!.hostArgv;
    const z = spawn(bin!, [...args, "--zygote", `--parent=${process.pid}`], { env: {}, stdio: ["ignore", "ignore", "ignore", "pipe"] });
    t.after(async () => {
      z.kill("SIGKILL");
      holder.kill("SIGKILL");
      for (const p of processesWithCwd(dir)) process.kill(p, "SIGKILL");
      await rm(dir, { recursive: true, force: true });
    });
    await sleep(100);
    const conn = z.stdio[3] as Readable & Writable;
    let got = "";
    conn.setEncoding("utf8");
    conn.on("data", (c: string) => (got += c));
    const answers = (): string[] => got.split("\n").filter(Boolean);
    const ask = async (line: string, expectIds: number): Promise<string[]> => {
      const before = answers().length;
      conn.write(line);
      for (let i = 0; i < 500 && answers().length < before + expectIds; i++) await sleep(10);
      return answers().slice(before);
    };

    const valid = (id: string) => `${id}\tH\t${holder.pid}\t${dir}`;
    for (let i = 0; i < LINES; i++) {
      const id = `f${i}`;
      let body: string;
      switch (prng.int(6)) {
        case 0: // junk without its newline
          body = prng.junk(200).toString("latin1").replace(/[\n]/g, " ");
          break;
        case 1: // a damaged valid request, aimed at the scratch dir only
          body = `${id}\tH\t${holder.pid}\t${dir}/${prng.bytes(4).toString("hex")}${prng.chance(0.5) ? "\t" + prng.junk(40).toString("latin1").replace(/[\n]/g, "") : ""}`;
          break;
        case 2: // wrong verb or field count
          body = prng.chance(0.5) ? `${id}\tX\t${holder.pid}\t${dir}` : `${id}\tH`;
          break;
        case 3: // pids that are not pids
          body = `${id}\tH\t${["0", "1", "-5", "abc", "99999999999", ""][prng.int(6)]}\t${dir}`;
          break;
        case 4: // relative dirs and cgroups
          body = `${id}\tH\t${holder.pid}\t${prng.chance(0.5) ? "rel" : dir}\t${"x".repeat(prng.int(10))}`;
          break;
        default: // too many cgroups
          body = `${id}\tH\t${holder.pid}\t${dir}${`\t/sys/fs/cgroup/none`.repeat(33 + prng.int(5))}`;
      }
      const out = await ask(body + "\n", 1);
      assert.equal(out.length, 1, `one answer to line ${i} (seed ${prng.seed}): ${JSON.stringify(body).slice(0, 200)}`);
      assert.match(out[0]!, /^[^\t]*\tE\t\d+\t./, `line ${i} refused with a reason`);
      assert.equal(z.exitCode, null, "still running");
    }
    // A line over its limit: one refusal, then the next line is served.
    const long = await ask("L\tH\t" + "y".repeat(20_000) + "\n", 1);
    assert.match(long[0]!, /^-\tE\t7\t/);
    const ok = await ask(valid("v1") + "\n", 1);
    assert.match(ok[0]!, /^v1\tR\t[1-9]\d*$/, "a host made after all that");
    const again = await ask(valid("v2") + "\n", 1);
    assert.deepEqual(again, ["v2\tR\t0"], "and found there");
  });
});
