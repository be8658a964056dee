/**
 * Writes a run's outputs: `latest.json` (every raw sample), `latest.md` (the report), the
 * SVG charts, and the marked section of each README-like document (README.md,
 * docs/benchmarks.md) when it has the markers. Also the `--render` / `--readme` paths:
 * everything but the JSON regenerated from an existing JSON file.
 *
 * @internal benchmark, not part of the runtime
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { renderCharts } from "./charts.js";
import { renderMarkdown } from "./markdown-report.js";
import { updateReadme, type ReadmeUpdate } from "./readme-section.js";
import { BENCH_SCHEMA, type BenchResults } from "./results.js";

/** Name of the JSON file in the results dir. */
export const RESULTS_JSON = "latest.json";
/** Name of the markdown report in the results dir. */
export const RESULTS_MD = "latest.md";

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Reads and sanity-checks a results file. */
export async function readResults(path: string): Promise<BenchResults> {
  const r = JSON.parse(await readFile(path, "utf8")) as BenchResults;
  if (r.schema !== BENCH_SCHEMA) throw new Error(`${path}: schema ${String(r.schema)}, expected ${BENCH_SCHEMA}`);
  return r;
}

/** What happened to one document's marked section. */
export interface SectionUpdate {
  readonly path: string;
  readonly update: ReadmeUpdate;
}

/** What {@link writeReports} wrote. */
export interface WrittenReports {
  readonly markdown: string;
  readonly files: readonly string[];
  readonly sections: readonly SectionUpdate[];
}

/** Regenerates the marked section of each of `docs` from `results`, linking the charts in `dir` relative to each document. */
export async function writeSections(results: BenchResults, dir: string, docs: readonly string[]): Promise<SectionUpdate[]> {
  const out: SectionUpdate[] = [];
  for (const path of docs) {
    const rel = relative(dirname(path), dir);
    out.push({ path, update: await updateReadme(path, renderMarkdown(results, { chartPrefix: rel === "" ? "" : `${rel}/`, headingLevel: 3 })) });
  }
  return out;
}

/** Writes latest.md and the charts into `dir`, and the marked sections of `docs`. */
export async function writeReports(results: BenchResults, dir: string, docs: readonly string[]): Promise<WrittenReports> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const markdown = renderMarkdown(results, { chartPrefix: "" });
  await writeAtomic(join(dir, RESULTS_MD), markdown);
  files.push(join(dir, RESULTS_MD));
  for (const [name, svg] of renderCharts(results)) {
    await writeAtomic(join(dir, name), svg);
    files.push(join(dir, name));
  }
  return { markdown, files, sections: await writeSections(results, dir, docs) };
}

/** Writes latest.json, then {@link writeReports}. */
export async function writeResults(results: BenchResults, dir: string, docs: readonly string[]): Promise<WrittenReports> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, RESULTS_JSON), `${JSON.stringify(results)}\n`);
  const written = await writeReports(results, dir, docs);
  return { ...written, files: [join(dir, RESULTS_JSON), ...written.files] };
}
