import { createRequire } from "node:module"; const require = createRequire(import.meta.url);
// throw-away: trellis-user with parts switched off (VARIANT=full|core|nolog|devnull)
import { createLogger, defaultServerInterceptors } from "@trellis/kit";
import { pino } from "pino";
import { createUserServer } from "../../services/user/dist/internal/server.js";
import { createChangeFeed } from "../../services/user/dist/internal/change-feed.js";
import { createMemoryUserRepository } from "../../services/user/dist/repository/memory-user-repository.js";
import { users } from "./dataset.mjs";
import { logDestination } from "./trellis-log.mjs";
const ROLE = { ROLE_MEMBER: 1, ROLE_MODERATOR: 2, ROLE_ADMIN: 3 };
const seed = users.map((u) => ({ id: u.id, email: u.email, displayName: u.displayName, roles: u.roles.map((r) => ROLE[r]), version: 1, createTime: new Date(u.seconds * 1000), updateTime: new Date(u.seconds * 1000) }));
const v = process.env.VARIANT ?? "full";
const repository = createMemoryUserRepository({ seed });
const feed = createChangeFeed(repository);
const logger = createLogger({ serviceName: "user", destination: v.startsWith("d-") ? (() => {
  const mode = v.slice(2);
  const target = pino.destination({ dest: "/tmp/dvar.log", sync: mode.endsWith("-sync") });
  let pending = ""; let scheduled = false;
  const flush = () => { scheduled = false; const b = pending; pending = ""; if (b) target.write(b); };
  const sched = mode.startsWith("timer") ? (f) => setTimeout(f, 0) : mode.startsWith("imm2") ? (f) => setImmediate(() => setImmediate(f)) : setImmediate;
  return { write(line) { pending += line; if (!scheduled) { scheduled = true; sched(flush); } } };
})() : v === "old" ? pino.destination({ dest: "/tmp/old.log", sync: false }) : v === "tick" ? (() => { const fs = require("node:fs"); const fd = fs.openSync("/tmp/tick.log", "a"); let buf = ""; let scheduled = false; const flush = () => { scheduled = false; const b = buf; buf = ""; fs.writeSync(fd, b); }; return { write(s) { buf += s; if (!scheduled) { scheduled = true; setImmediate(flush); } } }; })() : v === "noop" ? { write() {} } : v === "batched" ? (() => { const d = pino.destination({ dest: "/tmp/batched.log", sync: false, minLength: 8192 }); setInterval(() => d.flush(), 100).unref(); return d; })() : v === "devnull" ? pino.destination({ dest: "/dev/null", sync: false }) : logDestination("variant") });
const interceptors = v.startsWith("d-") || v === "old" ? undefined : v === "nosuccess" ? defaultServerInterceptors({ logger, logSuccess: false }) : v === "core" ? [] : v === "nolog" ? defaultServerInterceptors({ logger, logging: false }) : undefined;
const server = createUserServer({ repository, feed }, { logger, ...(interceptors ? { interceptors } : {}) });
const bound = await server.listen({ host: "127.0.0.1", port: Number(process.argv[process.argv.indexOf("--port") + 1]) });
process.stdout.write(`READY ${bound.port}\n`);
