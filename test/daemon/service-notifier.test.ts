import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { forgetNotifyEnv, notifySettingsFromEnv, ServiceNotifier } from "../../src/daemon/service-notifier.js";
import { silentLogger } from "../../src/log/logger.js";
import { listenForNotifications } from "../../testing/notify-listener.js";

describe("systemd notify: settings from the environment", () => {
  it("is off without NOTIFY_SOCKET, whatever the watchdog says", () => {
    assert.equal(notifySettingsFromEnv({ WATCHDOG_USEC: "1000000" }, 42), undefined);
  });

  it("pings at half of WATCHDOG_USEC when the watchdog is for us or for nobody in particular", () => {
    assert.deepEqual(notifySettingsFromEnv({ NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "3000000" }, 42), { socket: "/run/x", watchdogIntervalMs: 1500 });
    assert.deepEqual(notifySettingsFromEnv({ NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "3000000", WATCHDOG_PID: "42" }, 42), { socket: "@x", watchdogIntervalMs: 1500 });
  });

  it("does not ping for a watchdog armed for another pid, nor for a bad value", () => {
    assert.equal(notifySettingsFromEnv({ NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "3000000", WATCHDOG_PID: "7" }, 42)?.watchdogIntervalMs, 0);
    assert.equal(notifySettingsFromEnv({ NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "soon" }, 42)?.watchdogIntervalMs, 0);
  });

  it("forgets the variables so children never notify as us", () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "1", WATCHDOG_PID: "2", PATH: "/bin" };
    forgetNotifyEnv(env);
    assert.deepEqual(env, { PATH: "/bin" });
  });
});

describe("systemd notify: the helper sends datagrams with the daemon's pid", () => {
  for (const kind of ["path", "abstract"] as const) {
    it(`READY, STATUS, watchdog pings and STOPPING reach a ${kind} NOTIFY_SOCKET`, async (t) => {
      const dir = mkdtempSync("/tmp/notify-");
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const socket = kind === "path" ? join(dir, "notify.sock") : `@kuasar-notify-test-${process.pid}`;
      const listener = await listenForNotifications(socket);
      t.after(() => listener.stop());
      const notifier = new ServiceNotifier({ socket, watchdogIntervalMs: 20 }, silentLogger());
      notifier.ready("serving 0 pods (runc 0)");
      const ready = await listener.waitFor("READY=1");
      assert.equal(ready.pid, process.pid, "credentials name the daemon, not the helper");
      assert.ok(ready.fields.includes(`MAINPID=${process.pid}`));
      assert.ok(ready.fields.includes("STATUS=serving 0 pods (runc 0)"));
      await listener.waitForCount("WATCHDOG=1", 3);
      notifier.status("serving 0 pods (runc 0)");
      notifier.status("serving 1 pod (runc 1)");
      await listener.waitFor("STATUS=serving 1 pod (runc 1)");
      notifier.stopping();
      await listener.waitFor("STOPPING=1");
      const pingsAtStop = listener.count("WATCHDOG=1");
      await notifier.close();
      assert.equal(listener.count("STATUS=serving 0 pods (runc 0)"), 1, "an unchanged status is not sent again");
      assert.equal(listener.count("WATCHDOG=1"), pingsAtStop, "no ping after STOPPING=1");
    });
  }
});

describe("systemd notify: kill -9 of the helper", () => {
  it("starts another helper, and the watchdog pings go on with the daemon's pid", async (t) => {
    const dir = mkdtempSync("/tmp/notify-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const listener = await listenForNotifications(join(dir, "notify.sock"));
    t.after(() => listener.stop());
    const notifier = new ServiceNotifier({ socket: listener.socket, watchdogIntervalMs: 20 }, silentLogger());
    t.after(() => notifier.close());
    notifier.ready("up");
    await listener.waitForCount("WATCHDOG=1", 2);
    const first = notifier.helperPid;
    process.kill(first, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (notifier.helperPid === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(notifier.helperPid, first, "a new helper runs");
    const before = listener.received.length;
    await listener.waitForCount("WATCHDOG=1", listener.count("WATCHDOG=1") + 3);
    const after = listener.received.slice(before).filter((n) => n.fields.includes("WATCHDOG=1"));
    assert.ok(after.length >= 3, "pings after the kill");
    assert.ok(after.every((n) => n.pid === process.pid), "credentials still name the daemon");
    await notifier.close();
    assert.throws(() => process.kill(notifier.helperPid, 0), "the new helper exits at close");
  });
});

describe("systemd notify: the watchdog pings come from the event loop", () => {
  it("a daemon whose loop is blocked sends no ping until it runs again", async (t) => {
    const dir = mkdtempSync("/tmp/notify-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const listener = await listenForNotifications(join(dir, "notify.sock"));
    t.after(() => listener.stop());
    // A daemon that, once pinging, blocks its loop for many ping intervals, then says so.
    const script = join(dir, "blocked.mjs");
    writeFileSync(
      script,
      `import { ServiceNotifier } from ${JSON.stringify(new URL("../../src/daemon/service-notifier.js", import.meta.url).href)};
import { silentLogger } from ${JSON.stringify(new URL("../../src/log/logger.js", import.meta.url).href)};
const n = new ServiceNotifier({ socket: ${JSON.stringify(listener.socket)}, watchdogIntervalMs: 10 }, silentLogger());
n.ready("up");
setTimeout(() => {
  n.status("blocking");
  for (const until = Date.now() + 300; Date.now() < until; );
  n.status("unblocked");
  setTimeout(() => { n.stopping(); void n.close(); }, 50);
}, 100);
`,
    );
    await promisify(execFile)(process.execPath, [script]);
    await listener.waitFor("STOPPING=1");
    const fields = listener.received.flatMap((n) => n.fields);
    const blocking = fields.indexOf("STATUS=blocking");
    const unblocked = fields.indexOf("STATUS=unblocked");
    assert.ok(blocking > 0 && unblocked > blocking, JSON.stringify(fields));
    assert.ok(fields.slice(0, blocking).includes("WATCHDOG=1"), "pings before the block");
    assert.deepEqual(fields.slice(blocking + 1, unblocked), [], "not one ping while the loop was blocked");
    assert.ok(fields.slice(unblocked).includes("WATCHDOG=1"), "pings again once it runs");
  });
});
