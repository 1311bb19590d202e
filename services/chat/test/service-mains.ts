import { fileURLToPath } from "node:url";

/** The built chat service's entry point, for tests that run it as a process. */
export const CHAT_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

/** The user service chat calls, built beside it in the monorepo (`npm run build` builds both). */
export const USER_MAIN = fileURLToPath(new URL("../../../user/dist/main.js", import.meta.url));
