import { connect, constants } from "node:http2";
import { connect as connectTcp } from "node:net";

/** What a raw gRPC call over node:http2 saw. */
export interface RawGrpcOutcome {
  /** The response's `:status`, if headers came. */
  readonly httpStatus: number | undefined;
  readonly grpcStatus: number | undefined;
  /** `grpc-message`, percent-decoded. */
  readonly grpcMessage: string | undefined;
  /** The RST_STREAM code the server closed the stream with (0 when it ended with a status). */
  readonly rstCode: number;
  /** Response body bytes received. */
  readonly dataBytes: number;
  /**
   * Size of the status headers as HTTP/2 counts it against a client's
   * SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 per field): gRPC C-core and
   * Java clients refuse more than 8 KiB by default.
   */
  readonly statusHeaderBytes: number;
  /** `grpc-status-details-bin` (a serialized google.rpc.Status), if the status had one. */
  readonly statusDetails: Uint8Array | undefined;
}

/** Options of {@link rawGrpcCall}. */
export interface RawGrpcCallOptions {
  /** Request headers added to (or replacing) the gRPC defaults. @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body chunks written as they are (use {@link grpcFrame} for gRPC framing). @default [] */
  readonly body?: readonly Buffer[];
  /** Half-close the request after the body. @default true */
  readonly endStream?: boolean;
  /** Read the response; false never consumes it, like a client that stopped reading. @default true */
  readonly read?: boolean;
  /** Local address to connect from (any of 127.0.0.0/8 on Linux). @default the system's choice */
  readonly localAddress?: string;
}

/**
 * One gRPC call over plain node:http2 with whatever headers and bytes it is
 * given, bypassing every client-side check, to see how a server treats a
 * request no well-behaved client would send. Resolves when the stream closes.
 */
export function rawGrpcCall(address: string, path: string, options: RawGrpcCallOptions = {}): Promise<RawGrpcOutcome> {
  return new Promise((resolve, reject) => {
    const { localAddress } = options;
    const [host = "", port = ""] = address.split(/:(?=\d+$)/);
    const session = connect(
      `http://${address}`,
      localAddress === undefined ? {} : { createConnection: () => connectTcp({ host, port: Number(port), localAddress }) },
    );
    session.on("error", reject);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage: string | undefined;
    let dataBytes = 0;
    let rstCode: number | undefined;
    let statusHeaderBytes = 0;
    let statusDetails: Uint8Array | undefined;
    const read = (h: Record<string, unknown>): void => {
      if (h["grpc-status"] !== undefined) {
        for (const [name, value] of Object.entries(h)) statusHeaderBytes += name.length + String(value).length + 32;
      }
      if (h["grpc-message"] !== undefined) grpcMessage = safeDecode(String(h["grpc-message"]));
      if (typeof h["grpc-status-details-bin"] === "string")
        statusDetails = new Uint8Array(Buffer.from(h["grpc-status-details-bin"], "base64"));
      if (h["grpc-status"] !== undefined) {
        grpcStatus = Number(h["grpc-status"]);
        // The call is over; a request we never half-closed would keep the stream open.
        if (!stream.writableEnded) {
          rstCode = 0;
          stream.close();
        }
      }
    };
    stream.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      read(h);
    });
    stream.on("trailers", read);
    if (options.read ?? true) stream.on("data", (chunk: Buffer) => (dataBytes += chunk.length));
    else stream.pause();
    stream.on("close", () => {
      session.destroy();
      resolve({
        httpStatus,
        grpcStatus,
        grpcMessage,
        rstCode: rstCode ?? stream.rstCode ?? 0,
        dataBytes,
        statusHeaderBytes,
        statusDetails,
      });
    });
    stream.on("error", () => undefined);
    for (const chunk of options.body ?? []) stream.write(chunk);
    if (options.endStream ?? true) stream.end();
  });
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, body. */
export function grpcFrame(body: Uint8Array, options: { readonly compressed?: boolean; readonly declaredLength?: number } = {}): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = options.compressed ? 1 : 0;
  prefix.writeUInt32BE(options.declaredLength ?? body.length, 1);
  return Buffer.concat([prefix, body]);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
