import { fileURLToPath } from "node:url";

/** The built user service's entry point, for tests that run it as a process. */
export const USER_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
