import { main } from "../endpoint/main.js";

await main(process.argv.slice(2));
