/**
 * Preloaded (`node --import`) into every process {@link spawnOwnedNode} starts: the process
 * kills itself when the test process that started it is gone, even when that one was
 * killed with SIGKILL and so could clean nothing up. It changes nothing else: the
 * service's own code never sees it.
 *
 * How it knows: the parent passes one end of a pipe as the file descriptor named in
 * `TRELLIS_PARENT_WATCHDOG_FD` and keeps the other; the kernel closes the parent's end
 * whatever way it dies, and this end then reads end-of-file.
 */
import { Socket } from "node:net";
import { PARENT_WATCHDOG_ENV } from "./parent-watchdog-env.js";

const fd = Number(process.env[PARENT_WATCHDOG_ENV]);
// Not inherited further: a grandchild would not have the descriptor.
delete process.env[PARENT_WATCHDOG_ENV];
if (Number.isInteger(fd) && fd > 2) {
  const parent = new Socket({ fd, readable: true, writable: false });
  const orphaned = (): void => void process.kill(process.pid, "SIGKILL");
  parent.on("end", orphaned);
  parent.on("error", orphaned);
  parent.resume();
  // Never what keeps the process alive: it exits on its own terms otherwise.
  parent.unref();
}
