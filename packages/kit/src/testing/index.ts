export { startTestServer, type TestServer } from "./start-test-server.js";
export { rpcFailure } from "./rpc-failure.js";
