/** kuasar-ctl: an operator's view into kuasard (its admin socket) and the host. One file per subcommand. */
const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);

const commands: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number>; usage: string }> }> = {
  check: { summary: "is this host ready to run pods of each kind", load: () => import("./ctl/check.js") },
  ps: { summary: "every sandbox and container of every kind", load: () => import("./ctl/ps.js") },
  inspect: { summary: "one sandbox: record, processes, mounts, network", load: () => import("./ctl/inspect.js") },
  exec: { summary: "run a command inside a pod (runc, gvisor, vmm)", load: () => import("./ctl/exec.js") },
  logs: { summary: "kuasard's log lines, of one sandbox if given", load: () => import("./ctl/logs.js") },
  template: { summary: "VM templates of vmm pods: build, list, prune", load: () => import("./ctl/template.js") },
  "containerd-config": {
    summary: "the containerd config that wires this runtime in (1.7, 2.x, kuasar-io)",
    load: async () => {
      const m = await import("./containerd-config.js");
      return { usage: m.containerdConfigUsage, run: (argv) => m.containerdConfigCommand(argv, write(process.stdout), write(process.stderr)) };
    },
  },
  "stop-endpoint": {
    summary: "stop kuasar-endpoint of a state dir (a unit's ExecStopPost)",
    load: async () => {
      const m = await import("./stop-endpoint.js");
      return { usage: m.stopEndpointUsage, run: (argv) => m.stopEndpointCommand(argv, write(process.stdout), write(process.stderr)) };
    },
  },
};

const usage = `usage: kuasar-ctl COMMAND [--help] [ARGS]   (root only: kuasard's admin socket is 0600)
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}
`;

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const command = verb === undefined ? undefined : commands[verb];
  if (!command) {
    process.stderr.write(usage);
    return verb === "--help" || verb === "-h" ? 0 : 2;
  }
  const m = await command.load();
  const dashes = rest.indexOf("--");
  const own = dashes < 0 ? rest : rest.slice(0, dashes); // what follows -- is an exec'd command's
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(m.usage);
    return 0;
  }
  return m.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kuasar-ctl: ${(err as Error).message}\n`);
    process.exit(err instanceof Error && err.name === "TypeError" && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS") ? 2 : 1);
  },
);
