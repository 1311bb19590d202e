/** The variable telling a child started by `spawnOwnedNode` which descriptor is its parent's pipe. */
export const PARENT_WATCHDOG_ENV = "TRELLIS_PARENT_WATCHDOG_FD";
