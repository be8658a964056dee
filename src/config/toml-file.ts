import { readFile } from "node:fs/promises";
import { parse } from "smol-toml";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Reads and parses a TOML file; errors name the file and, for syntax errors, the line. */
export async function readTomlFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `config ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `config ${path}: ${(err as Error).message}`, { cause: err });
  }
}
