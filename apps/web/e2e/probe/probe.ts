/**
 * The probe page's script: the browser protocol tests call `window.trellisProbe.<scenario>`
 * (scenarios.ts) through Playwright, on the edge's origin, so the calls are same-origin
 * fetches from inside Chromium, as the app's are.
 */
import { createScenarios } from "./scenarios.js";

window.trellisProbe = createScenarios(location.origin);
