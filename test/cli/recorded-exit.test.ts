import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { recordedExit, recordedExitOfBundle } from "../../src/cli/recorded-exit.js";
import { DeleteResponseSchema } from "../../src/gen/containerd/task/v2/shim_pb.js";
import { EXIT_SOURCE_FILE, type ExitSource } from "../../src/task/exit-source.js";

const STARTED = Date.parse("2026-01-01T10:00:00Z");

/** A container record with its init as the daemon last wrote it. */
function files(t: { after(fn: () => void): void }, init: Record<string, unknown>, journal: string): ExitSource & { dir: string } {
  const dir = mkdtempSync("/tmp/recorded-exit-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const record = join(dir, "c1.json");
  writeFileSync(record, JSON.stringify({ id: "c1", init: { pid: 300, state: "running", exitStatus: 0, exitedAt: undefined, startedAt: new Date(STARTED).toISOString(), ...init }, execs: {} }));
  writeFileSync(join(dir, "exits"), journal);
  return { dir, record, journal: join(dir, "exits"), clockSkewMs: 1000 };
}

/** A journal line as the holder writes it. */
function line(pid: number, status: number, at: number): string {
  return `${pid} ${status} ${Math.floor(at / 1000)} ${(at % 1000) * 1_000_000} init:c1\n`;
}

describe("recorded exit (read without the daemon)", () => {
  it("takes the record's exit once the daemon saw it", (t) => {
    const s = files(t, { state: "stopped", exitStatus: 3, exitedAt: new Date(STARTED + 5000).toISOString() }, "");
    assert.deepEqual(recordedExit(s), { status: 3, exitedAt: new Date(STARTED + 5000) });
  });

  it("takes the journal's exit of the init's pid when the record still says running", (t) => {
    const s = files(t, {}, line(301, 9, STARTED + 100) + line(300, 42, STARTED + 2000));
    assert.deepEqual(recordedExit(s), { status: 42, exitedAt: new Date(STARTED + 2000) });
  });

  it("ignores an exit of the same pid from before the init started (a reused pid), and says nothing while it runs", (t) => {
    assert.equal(recordedExit(files(t, {}, line(300, 1, STARTED - 60_000))), undefined);
    assert.equal(recordedExit(files(t, {}, "")), undefined);
  });

  it("takes the status a runsc-wait style waiter printed over the waiter's own exit", (t) => {
    const s = files(t, {}, line(300, 0, STARTED + 2000));
    writeFileSync(join(s.dir, "wait"), '{"id":"c1","exitStatus":7}\n');
    assert.equal(recordedExit({ ...s, waiterResult: join(s.dir, "wait") })?.status, 7);
  });

  it("a bundle without an exit source, or with a damaged one, has no recorded exit", (t) => {
    const s = files(t, {}, line(300, 42, STARTED + 2000));
    assert.equal(recordedExitOfBundle(s.dir), undefined);
    writeFileSync(join(s.dir, EXIT_SOURCE_FILE), '{"record":');
    assert.equal(recordedExitOfBundle(s.dir), undefined);
    writeFileSync(join(s.dir, EXIT_SOURCE_FILE), JSON.stringify({ record: s.record, journal: s.journal, clockSkewMs: 1000 }));
    assert.equal(recordedExitOfBundle(s.dir)?.status, 42);
  });

  it("the shim's delete with the bridge down reports the recorded exit, and 137 when none is recorded", (t) => {
    const s = files(t, {}, line(300, 42, STARTED + 2000));
    const shimDelete = (bundle: string) => {
      const out = execFileSync(process.execPath, [join(import.meta.dirname, "../../src/cli/shim-delete.js"), "-id", "c1", "-namespace", "k8s.io", "-bundle", bundle, "delete"], {
        env: { ...process.env, KUASAR_SHIM_SOCKET: join(s.dir, "no-bridge.sock") },
        stdio: ["ignore", "pipe", "ignore"],
      });
      return fromBinary(DeleteResponseSchema, out);
    };
    const none = shimDelete(s.dir);
    assert.equal(none.exitStatus, 137);
    writeFileSync(join(s.dir, EXIT_SOURCE_FILE), JSON.stringify({ record: s.record, journal: s.journal, clockSkewMs: 1000 }));
    const r = shimDelete(s.dir);
    assert.equal(r.exitStatus, 42);
    assert.equal(timestampDate(r.exitedAt!).getTime(), STARTED + 2000);
  });
});
