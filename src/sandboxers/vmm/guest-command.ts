import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { HolderClient } from "../../holder/holder-client.js";
import type { HolderExit } from "../../holder/holder-protocol.js";

/**
 * Runs a command in the guest and resolves with its exit status, as the agent reports it
 * (before a restored VM's share is mounted there is nowhere for its output to go).
 */
export async function guestCommandStatus(agent: HolderClient, id: string, argv: string[], deadline: number): Promise<number> {
  const exits = new Map<number, HolderExit>();
  const heard = (e: HolderExit) => exits.set(e.pid, e);
  agent.on("exit", heard);
  try {
    const pid = await agent.spawn({ id, argv, env: ["PATH=/sbin:/bin"], cwd: "/" });
    while (!exits.has(pid)) {
      if (Date.now() > deadline) throw new RuntimeError(Code.DeadlineExceeded, `${argv.join(" ")} in the guest did not finish`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return exits.get(pid)!.status;
  } finally {
    agent.off("exit", heard);
  }
}

/** {@link guestCommandStatus}, failing unless the command exits 0. */
export async function runInGuest(agent: HolderClient, id: string, argv: string[], deadline: number): Promise<void> {
  const status = await guestCommandStatus(agent, id, argv, deadline);
  if (status !== 0) throw new RuntimeError(Code.Internal, `${argv.join(" ")} in the guest exited ${status}`);
}
