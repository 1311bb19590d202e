import { connect, constants } from "node:http2";

/** What a raw gRPC call over node:http2 answered. */
export interface RawOutcome {
  readonly httpStatus: number | undefined;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
}

/**
 * Sends one length-prefixed gRPC message with arbitrary headers over plain
 * node:http2, bypassing every client-side check, to see how the server treats
 * bytes and headers no well-behaved client would send.
 */
export function rawGrpcCall(
  address: string,
  path: string,
  payload: Buffer,
  headers: Record<string, string> = {},
): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.on("error", reject);
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(payload.length, 1);
    payload.copy(frame, 5);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage: string | undefined;
    const read = (h: Record<string, unknown>): void => {
      if (h["grpc-status"] !== undefined) grpcStatus = Number(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    stream.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      read(h);
    });
    stream.on("trailers", read);
    stream.on("data", () => undefined);
    stream.on("close", () => {
      session.close();
      resolve({ httpStatus, grpcStatus, grpcMessage });
    });
    stream.on("error", () => undefined);
    stream.end(frame);
  });
}
