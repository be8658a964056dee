import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readlink, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { connectUnix, fitsSunPath, listenUnix, SHORT_SOCKET_DIR, shortSocketPath } from "../../src/fs/long-socket-path.js";

const HEX64 = "0123456789abcdef".repeat(4);

async function longDir(t: TestContext): Promise<string> {
  const base = await mkdtemp("/tmp/kls-");
  t.after(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, "d".repeat(100), "e".repeat(100), "pods", HEX64);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Descriptors of this process that point at `dir`. */
async function fdsOn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target === dir) out.push(fd);
  }
  return out;
}

function roundTrip(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => (got += d));
    s.on("end", () => resolve(got));
    s.on("error", reject);
  });
}

describe("long socket paths: short names for sockets others dial by name", () => {
  it("keeps a path that fits sun_path as it is", () => {
    assert.equal(shortSocketPath("/run/kuasar-runc/task.sock"), "/run/kuasar-runc/task.sock");
    const p107 = `/${"x".repeat(106)}`;
    assert.equal(shortSocketPath(p107), p107);
  });

  it("maps a longer path to a stable, distinct short name in the short dir, keeping its extension", () => {
    const long = `/var/lib/${"k".repeat(200)}/pods/${HEX64}/x.qmp`;
    const s = shortSocketPath(long);
    assert.equal(shortSocketPath(long), s, "the same path gives the same name (a restarted daemon finds it)");
    assert.match(s, new RegExp(`^${SHORT_SOCKET_DIR}/[0-9a-f]{32}\\.qmp$`));
    assert.ok(fitsSunPath(s));
    assert.notEqual(shortSocketPath(long.replace(/x\.qmp$/, "y.qmp")), s, "another path, another name");
    assert.notEqual(shortSocketPath(`${long}2`), s);
    assert.equal(shortSocketPath(`/${"a".repeat(120)}/task.sock`, "/s").length, "/s/".length + 32 + ".sock".length);
  });

  it("refuses a short dir that is itself too long", () => {
    assert.throws(() => shortSocketPath(`/${"a".repeat(200)}/t.sock`, `/${"b".repeat(100)}`), /too long/);
  });
});

describe("long socket paths: bind and dial through a descriptor of the directory", () => {
  it("listens and connects at a 300-byte path, the socket in its own dir, no descriptor left behind", async (t) => {
    const dir = await longDir(t);
    const path = join(dir, "holder.sock");
    assert.ok(Buffer.byteLength(path) > 250);
    const server = createServer((s) => s.end("pong"));
    await listenUnix(server, path);
    assert.ok(statSync(path).isSocket());
    const c = connectUnix(path);
    assert.equal(await roundTrip(c), "pong");
    c.destroy();
    await once(c, "close");
    assert.equal((await fdsOn(dir)).length, 1, "only the listener holds the dir");
    await new Promise<void>((r) => server.close(() => r()));
    assert.equal(existsSync(path), false, "closing the server removed the socket");
    assert.deepEqual(await fdsOn(dir), [], "the listener's descriptor is closed with the server");
  });

  it("reports a missing socket or dir as net.connect does (ENOENT as an error event)", async (t) => {
    const dir = await longDir(t);
    for (const path of [join(dir, "none.sock"), join(dir, "missing", "none.sock")]) {
      const c = connectUnix(path);
      const [err] = (await once(c, "error").catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
      assert.equal(err.code, "ENOENT", path);
    }
    assert.deepEqual(await fdsOn(dir), []);
  });

  it("fails to listen where a live server already listens", async (t) => {
    const dir = await longDir(t);
    const path = join(dir, "a.sock");
    const first = createServer();
    await listenUnix(first, path);
    t.after(() => new Promise<void>((r) => first.close(() => r())));
    await assert.rejects(listenUnix(createServer(), path), /EADDRINUSE/);
  });
});
