import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseBenchArgs } from "../../bench/bench-main.js";
import { FAILED_RUN_DIR, finishRun, PARTIAL_RUN_DIR } from "../../bench/finish-run.js";
import type { BenchResults } from "../../bench/results.js";
import { measured, notRun, results } from "./bench-fixture.js";

const root = mkdtempSync(join(tmpdir(), "bench-finish-"));
after(() => rmSync(root, { recursive: true, force: true }));

const README = "# r\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n";
const COMMITTED = '{"committed":true}\n';

/** A results dir holding a committed latest.json, and a README with the markers. */
function workspace(name: string) {
  const dir = join(root, name);
  const resultsDir = join(dir, "bench-results");
  const readme = join(dir, "README.md");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  return { resultsDir, readme, dir };
}

async function finish(name: string, r: BenchResults, updateReadme: boolean, fresh = true) {
  const w = workspace(name);
  writeFileSync(join(w.resultsDir, "latest.json"), COMMITTED);
  writeFileSync(w.readme, README);
  const lines: string[] = [];
  const out = await finishRun(r, { resultsDir: w.resultsDir, readmePaths: [w.readme], updateReadme, fresh }, (l) => lines.push(l));
  return { ...w, out, lines, latest: readFileSync(join(w.resultsDir, "latest.json"), "utf8"), readmeText: readFileSync(w.readme, "utf8") };
}

const complete = () => results([measured("base", "baseline", 150), measured("ours", "ours", 80)]);
const unavailable = () => results([notRun("base", "baseline", "not_available", "containerd 1.7 missing"), notRun("ours", "ours", "not_available", "holder missing")]);

describe("finishRun", () => {
  it("writes a complete run over latest.json, exits 0, and leaves README alone without --readme", async () => {
    const f = await finish("complete", complete(), false);
    assert.equal(f.out.exitCode, 0);
    assert.notEqual(f.latest, COMMITTED);
    assert.equal(f.readmeText, README);
    assert.ok(f.lines.some((l) => l.includes("--readme rewrites")), f.lines.join("\n"));
  });

  it("rewrites README's section from a complete run with --readme", async () => {
    const f = await finish("readme", complete(), true);
    assert.equal(f.out.exitCode, 0);
    assert.doesNotMatch(f.readmeText, /old table/);
    assert.match(f.readmeText, /<!-- bench:start -->[\s\S]*ours[\s\S]*<!-- bench:end -->/);
  });

  it("exits 1 when nothing could run, keeps latest.json and README, and puts the run in failed/", async () => {
    const f = await finish("unavailable", unavailable(), true);
    assert.equal(f.out.exitCode, 1);
    assert.equal(f.latest, COMMITTED);
    assert.equal(f.readmeText, README);
    const failed = JSON.parse(readFileSync(join(f.resultsDir, FAILED_RUN_DIR, "latest.json"), "utf8")) as BenchResults;
    assert.equal(failed.configurations[0]?.status, "not_available");
    assert.ok(f.lines.some((l) => l.includes("base: not_available: containerd 1.7 missing")), f.lines.join("\n"));
  });

  it("--render --readme of an incomplete run exits 1 and leaves README alone", async () => {
    const f = await finish("render", unavailable(), true, false);
    assert.equal(f.out.exitCode, 1);
    assert.equal(f.readmeText, README);
    assert.equal(f.latest, COMMITTED);
  });
});

describe("bench arguments", () => {
  it("rewrite README and docs only with --readme, whatever --out says", () => {
    assert.equal(parseBenchArgs(["--quick"])?.options.updateReadme, false);
    assert.equal(parseBenchArgs(["--quick", "--readme"])?.options.updateReadme, true);
    assert.equal(parseBenchArgs(["--out", join(root, "x")])?.options.updateReadme, false);
    assert.equal(parseBenchArgs(["--render", "--readme"])?.render, true);
  });

  it("send a run of some configurations apart (partial/), never over latest.* nor into the documents, unless --out says where", () => {
    const partial = parseBenchArgs(["--quick", "--only", "vmm", "--readme"])?.options;
    assert.equal(partial?.resultsDir, join(parseBenchArgs(["--quick"])!.options.resultsDir, PARTIAL_RUN_DIR));
    assert.equal(partial?.updateReadme, false);
    assert.equal(parseBenchArgs(["--quick", "--only", "vmm", "--out", join(root, "y")])?.options.resultsDir, join(root, "y"));
  });

  it("a full run covers 200 pods, a quick one 50", () => {
    assert.deepEqual(parseBenchArgs([])?.options.podCounts.at(-1), 200);
    assert.deepEqual(parseBenchArgs(["--quick"])?.options.podCounts.at(-1), 50);
  });
});
