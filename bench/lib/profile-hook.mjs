// Loaded into a peer with `node --import` by bench/lib/profile.mjs: the first
// SIGUSR2 starts CPU profiling (after the warm-up, so start-up and JIT warm-up
// stay out of it), the second writes the profile to $TRELLIS_PROFILE_OUT.
import { renameSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const out = process.env.TRELLIS_PROFILE_OUT;
const intervalUs = Number(process.env.TRELLIS_PROFILE_INTERVAL_US ?? 100);
const session = new Session();
session.connect();
const post = (method, params) =>
  new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));

let state = "idle";
process.on("SIGUSR2", () => {
  if (state === "idle") {
    state = "starting";
    void post("Profiler.enable")
      .then(() => post("Profiler.setSamplingInterval", { interval: intervalUs }))
      .then(() => post("Profiler.start"))
      .then(() => {
        state = "profiling";
      });
  } else if (state === "profiling") {
    state = "done";
    void post("Profiler.stop").then(({ profile }) => {
      writeFileSync(`${out}.tmp`, JSON.stringify(profile));
      renameSync(`${out}.tmp`, out);
    });
  }
});
