import { kuasardMain } from "./kuasard-main.js";

await kuasardMain(process.argv.slice(2), "gvisor");
