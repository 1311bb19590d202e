export { startTestServer, type TestServer } from "./start-test-server.js";
export { rpcFailure } from "./rpc-failure.js";
export { rawGrpcCall, grpcFrame, type RawGrpcOutcome, type RawGrpcCallOptions } from "./raw-grpc.js";
export {
  connectRawHttp2,
  encodeHeaderBlock,
  FrameType,
  FrameFlag,
  type RawFrame,
  type RawHttp2Connection,
  type RawHttp2Options,
} from "./raw-http2.js";
export { createTestCallContext, createTestRequest, type TestCallContext, type TestCallContextOptions } from "./test-call-context.js";
export {
  startFakeConsul,
  type FakeConsul,
  type FakeConsulOptions,
  type FakeConsulService,
  type FakeConsulRequest,
  type FakeCheckStatus,
} from "./fake-consul-server.js";
export { startConsulTestAgent, type ConsulTestAgent, type ConsulTestAgentOptions } from "./consul-test-agent.js";
export {
  startServiceProcess,
  runServiceToExit,
  waitFor,
  type ServiceProcess,
  type ServiceExit,
  type StartServiceOptions,
  type RunServiceToExitOptions,
} from "./service-process.js";
export { spawnOwnedNode, type OwnedNodeOptions } from "./owned-child.js";
export { createTempDir, type TempDir } from "./temp-dir.js";
export { onProcessEnd } from "./process-cleanup.js";
export { textFieldsOf, type TextField } from "./text-fields.js";
export { createTestPki, type TestPki, type PemFiles } from "./test-pki.js";
export { createTestIssuer, type TestIssuer, type TestSigningKey, type TestTokenOptions } from "./test-issuer.js";
export { startRedisTestServer, type RedisTestServer, type RedisTestServerOptions } from "./redis-test-server.js";
