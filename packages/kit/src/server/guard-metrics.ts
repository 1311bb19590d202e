import type { DescMethod } from "@bufbuild/protobuf";
import type { Code } from "../errors/code.js";
import { methodLabels, UNKNOWN_METHOD, type GrpcMetrics, type MethodSeries } from "../observability/grpc-metrics.js";
import type { CallGuardObserver } from "./call-guard.js";

/**
 * Counts the calls the server answers before its interceptor chain runs, in
 * go-grpc-prometheus' server families: a method it does not serve (grpc-js
 * answers UNIMPLEMENTED; every such name is counted as `unknown`, so a client
 * cannot grow the label set), and calls a limit refused. Health checks are
 * answered by grpc-health-check outside the chain and are not counted.
 */
export function createGuardMetrics(metrics: GrpcMetrics, methodOf: (path: string) => DescMethod | undefined): CallGuardObserver {
  const served = (path: string): boolean => methodOf(path) !== undefined || path.startsWith("/grpc.health.v1.Health/");
  const seriesOf = (path: string): MethodSeries => {
    const method = methodOf(path);
    return metrics.server.series(method === undefined ? { grpc_type: "unary", ...UNKNOWN_METHOD } : methodLabels(method));
  };
  const count = (path: string, code: Code): void => {
    const series = seriesOf(path);
    series.start();
    series.refused(code);
  };
  return {
    opened(path) {
      // grpc-js answers it UNIMPLEMENTED; nothing of ours sees it after this.
      if (!served(path)) count(path, 12 as Code);
    },
    answered(path, code) {
      if (served(path)) count(path, code);
    },
  };
}
