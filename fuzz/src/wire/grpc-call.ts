import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";

/** One call as the fuzzer sends it: any path, any headers, any bytes. */
export interface CallRequest {
  readonly path: string;
  /** Added to (and overriding) the defaults; `null` removes a default header. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | null>>;
  /** DATA written in order, one write each. */
  readonly chunks?: readonly Buffer[];
  /** Half-close after the chunks (default true). */
  readonly endStream?: boolean;
  /** The call counts as hung when it has neither a status nor a reset after this long. */
  readonly watchdogMs: number;
}

/** How a call ended, as seen on the wire. */
export interface CallOutcome {
  /** `status`: trailers (or a trailers-only response); `http`: a response without grpc-status; `reset`: RST_STREAM or the connection went; `hang`: the watchdog fired. */
  readonly kind: "status" | "http" | "reset" | "hang";
  readonly httpStatus: number | undefined;
  readonly grpcStatus: number | undefined;
  /** grpc-status exactly as sent (to catch a non-numeric one). */
  readonly grpcStatusText: string | undefined;
  readonly grpcMessage: string | undefined;
  readonly statusDetails: Buffer | undefined;
  readonly messages: readonly Buffer[];
  /** Response bytes after the last whole message. */
  readonly trailingBytes: number;
  /** Whether a response message was flagged compressed. */
  readonly compressedResponse: boolean;
  readonly rstCode: number | undefined;
}

/** A call in progress. */
export interface OpenCall {
  write(chunk: Buffer): void;
  end(): void;
  /** Gives up on a call that hung: resets the stream (CANCEL); the outcome is "hang". */
  abandon(): void;
  /** The next response message, or undefined when the call ended without one. */
  nextMessage(): Promise<Buffer | undefined>;
  readonly outcome: Promise<CallOutcome>;
}

/** One HTTP/2 connection that is reopened when the server closed it. */
export interface GrpcConnection {
  open(request: CallRequest): OpenCall;
  /** Sends everything, half-closes (unless told not to) and waits for the outcome. */
  call(request: CallRequest): Promise<CallOutcome>;
  close(): void;
}

const DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  [constants.HTTP2_HEADER_METHOD]: "POST",
  "content-type": "application/grpc",
  te: "trailers",
};

/** Opens (lazily) an HTTP/2 connection to `address` (host:port) for raw gRPC calls. */
export function connectGrpc(address: string): GrpcConnection {
  let session: ClientHttp2Session | undefined;
  const sessionFor = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const fresh = connect(`http://${address}`, {
        maxSendHeaderBlockLength: 1 << 20,
        maxHeaderListPairs: 4096,
        settings: { maxHeaderListSize: 1 << 24 },
      });
      fresh.on("error", () => undefined); // surfaces on the streams as resets
      fresh.on("goaway", () => {
        if (session === fresh) session = undefined;
      });
      fresh.unref();
      session = fresh;
    }
    return session;
  };
  const open = (request: CallRequest): OpenCall => startCall(sessionFor(), request);
  return {
    open,
    async call(request) {
      const call = open(request);
      for (const chunk of request.chunks ?? []) call.write(chunk);
      if (request.endStream ?? true) call.end();
      return call.outcome;
    },
    close() {
      session?.destroy();
      session = undefined;
    },
  };
}

function startCall(session: ClientHttp2Session, request: CallRequest): OpenCall {
  const headers: OutgoingHttpHeaders = { ...DEFAULT_HEADERS, [constants.HTTP2_HEADER_PATH]: request.path };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value as string | string[];
  }
  const stream: ClientHttp2Stream = session.request(headers, { endStream: false });
  let body: Buffer = Buffer.alloc(0);
  const messages: Buffer[] = [];
  const waiters: ((message: Buffer | undefined) => void)[] = [];
  let delivered = 0;
  let done = false;
  let abandoned = false;
  let compressedResponse = false;
  let httpStatus: number | undefined;
  let grpcStatusText: string | undefined;
  let grpcMessage: string | undefined;
  let statusDetails: Buffer | undefined;

  const readStatus = (h: Record<string, unknown>): void => {
    if (h["grpc-status"] !== undefined) grpcStatusText = String(h["grpc-status"]);
    if (h["grpc-message"] !== undefined) grpcMessage = decodeGrpcMessage(String(h["grpc-message"]));
    const details = h["grpc-status-details-bin"];
    if (typeof details === "string") statusDetails = Buffer.from(details, "base64");
  };
  const flushWaiters = (): void => {
    while (waiters.length > 0 && (delivered < messages.length || done)) {
      const waiter = waiters.shift()!;
      waiter(delivered < messages.length ? messages[delivered++] : undefined);
    }
  };

  const outcome = new Promise<CallOutcome>((resolve) => {
    let watchdog: NodeJS.Timeout | undefined = undefined;
    const finish = (ended: CallOutcome["kind"]): void => {
      if (done) return;
      const kind = abandoned ? "hang" : ended;
      done = true;
      clearTimeout(watchdog);
      const grpcStatus = grpcStatusText !== undefined && /^\d+$/.test(grpcStatusText) ? Number(grpcStatusText) : undefined;
      resolve({
        kind: kind === "status" && grpcStatusText === undefined ? (httpStatus === undefined ? "reset" : "http") : kind,
        httpStatus,
        grpcStatus,
        grpcStatusText,
        grpcMessage,
        statusDetails,
        messages,
        trailingBytes: body.length,
        compressedResponse,
        rstCode: kind === "reset" ? stream.rstCode : undefined,
      });
      flushWaiters();
    };
    watchdog = setTimeout(() => {
      finish("hang");
      stream.close(constants.NGHTTP2_CANCEL);
    }, request.watchdogMs);
    stream.on("response", (h) => {
      httpStatus = Number(h[constants.HTTP2_HEADER_STATUS]);
      readStatus(h);
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => {
      body = body.length === 0 ? chunk : Buffer.concat([body, chunk]);
      while (body.length >= 5 && body.length - 5 >= body.readUInt32BE(1)) {
        if (body[0] !== 0) compressedResponse = true;
        const length = body.readUInt32BE(1);
        messages.push(Buffer.from(body.subarray(5, 5 + length)));
        body = body.subarray(5 + length);
      }
      flushWaiters();
    });
    stream.on("error", () => undefined);
    // The server's side ended (trailers, or a trailers-only response): the call is over even if
    // ours is still open (a server may end a call before the client half-closes).
    stream.on("end", () => {
      if (grpcStatusText !== undefined) finish("status");
      // No grpc-status: a reset (its code is known by now) or an HTTP-only answer; 'close'
      // tells them apart, and comes once our side is closed too.
      else if (!stream.closed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
    stream.on("close", () => {
      const ended =
        (stream.rstCode === constants.NGHTTP2_NO_ERROR || stream.rstCode === undefined) &&
        (grpcStatusText !== undefined || httpStatus !== undefined);
      finish(ended ? "status" : "reset");
    });
  });

  return {
    write: (chunk) => {
      if (!stream.destroyed && stream.writable) stream.write(chunk);
    },
    end: () => {
      if (!stream.destroyed && stream.writable) stream.end();
    },
    abandon: () => {
      abandoned = true;
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    },
    nextMessage: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        flushWaiters();
      }),
    outcome,
  };
}

/** grpc-message is percent-encoded (gRPC over HTTP/2); a malformed escape is kept as is. */
function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
