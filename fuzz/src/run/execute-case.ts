import type { FuzzCase } from "../gen/fuzz-case.js";
import { show } from "../oracle/violation.js";
import type { CaseResult } from "./case-result.js";
import { runChatSession } from "./chat-session.js";
import { runFramesCase } from "./frames-case.js";
import { runFramingCase } from "./framing-case.js";
import type { Lane } from "./lane.js";
import { runMessageCase } from "./message-case.js";

const RECENT_CASES = 3;

/** Runs one case of any family on `lane` (and notes it among the lane's recent cases). */
export function executeCase(c: FuzzCase, lane: Lane): Promise<CaseResult> {
  const recent = lane.world.recentCases.get(lane.id) ?? [];
  recent.push(show(c, 120));
  if (recent.length > RECENT_CASES) recent.shift();
  lane.world.recentCases.set(lane.id, recent);
  return dispatch(c, lane);
}

function dispatch(c: FuzzCase, lane: Lane): Promise<CaseResult> {
  switch (c.family) {
    case "message":
      return runMessageCase(c, lane);
    case "chat-session":
      return runChatSession(c, lane);
    case "framing":
      return runFramingCase(c, lane);
    case "frames":
      return runFramesCase(c, lane);
  }
}
