/**
 * `npm run bench`: see `bench-main.ts`.
 *
 * @internal benchmark, not part of the runtime
 */
import { benchMain } from "./bench-main.js";

process.exit(await benchMain(process.argv.slice(2)));
