import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

/**
 * A unix socket server in a temp dir of its own, for a test to stand in for a peer (a holder,
 * a guest agent): each connection goes to `onConnection`. Closed with its connections, and its
 * dir removed, when the test ends. Resolves to the socket's path once it listens.
 */
export async function unixServer(t: TestContext, onConnection: (s: Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "kuasar-peer-"));
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    onConnection(s);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, "peer.sock");
  server.listen(path);
  await once(server, "listening");
  return path;
}
