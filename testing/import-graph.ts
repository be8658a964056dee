/**
 * The import graph of a source tree, read from the TypeScript sources (no compiler needed):
 * which file imports which, and the cycles in it, for the layout tests (`test/layout/`).
 * Type-only imports count: a cycle of types is still a cycle of concepts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** One import statement of a file. */
export interface ImportEdge {
  /** The importing file, relative to the graph's root (`src/pod/pod.ts`). */
  readonly from: string;
  /** The specifier as written (`../task/task-backend.js`, `node:fs`, `pino`). */
  readonly specifier: string;
  /** For a relative specifier: the imported file relative to the root (`.js` read as `.ts`). */
  readonly target: string | undefined;
}

// import … from "x" / export … from "x" / import "x" / import("x"); comments are stripped first.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** Every import of every `.ts` file under `root/dir`, paths relative to `root`. */
export function readImports(root: string, dir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of tsFiles(join(root, dir))) {
    const from = relative(root, file);
    for (const m of stripComments(readFileSync(file, "utf8")).matchAll(SPECIFIER)) {
      const specifier = m[1] as string;
      const target = specifier.startsWith(".")
        ? relative(root, resolve(dirname(file), specifier)).replace(/\.js$/, ".ts")
        : undefined;
      edges.push({ from, specifier, target });
    }
  }
  return edges;
}

/** Adjacency of a graph whose nodes are strings. */
export type Graph = ReadonlyMap<string, ReadonlySet<string>>;

/** The file graph of relative imports (self-edges dropped). */
export function fileGraph(edges: readonly ImportEdge[]): Graph {
  const g = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!g.has(e.from)) g.set(e.from, new Set());
    if (e.target !== undefined && e.target !== e.from) g.get(e.from)?.add(e.target);
  }
  return g;
}

/** The folder graph: an edge from folder A to folder B when a file of A imports a file of B. */
export function folderGraph(files: Graph): Graph {
  const g = new Map<string, Set<string>>();
  for (const [from, targets] of files) {
    const a = dirname(from);
    if (!g.has(a)) g.set(a, new Set());
    for (const t of targets) if (dirname(t) !== a) g.get(a)?.add(dirname(t));
  }
  return g;
}

/**
 * The cycles of a graph: one per strongly connected component of more than one node,
 * written as a closed path through it (`a -> b -> a`) so a failure names the edges to cut.
 */
export function cycles(graph: Graph): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => closedPath(graph, new Set(c)));
}

/** A shortest path from the component's first node back to itself, staying inside the component. */
function closedPath(graph: Graph, component: ReadonlySet<string>): string {
  const start = [...component].sort()[0] as string;
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) path.unshift(u);
        path.unshift(start);
        return path.join(" -> ");
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component].join(" <-> ");
}
