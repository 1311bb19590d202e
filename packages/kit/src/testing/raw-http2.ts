import { connect, type Socket } from "node:net";

/** HTTP/2 frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags used by the helpers. */
export const FrameFlag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame read from the server. */
export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A plain-TCP HTTP/2 connection that writes whatever frames it is told to. */
export interface RawHttp2Connection {
  /** Frames received so far, in order. */
  readonly frames: readonly RawFrame[];
  /** Writes raw bytes. */
  write(bytes: Buffer): void;
  /** Writes one frame. */
  frame(type: number, flags: number, streamId: number, payload?: Buffer): void;
  /** The client preface and an empty SETTINGS frame. */
  preface(): void;
  /**
   * A HEADERS frame for a gRPC POST to `path` (HPACK literals, no Huffman,
   * no dynamic table), with extra headers appended.
   */
  headers(
    streamId: number,
    path: string,
    options?: { readonly endStream?: boolean; readonly extra?: Readonly<Record<string, string>> },
  ): void;
  /** A DATA frame carrying `payload` as is (gRPC framing: `grpcFrame` from ./raw-grpc). */
  data(streamId: number, payload: Buffer, endStream?: boolean): void;
  /** RST_STREAM with `code` (default CANCEL). */
  reset(streamId: number, code?: number): void;
  /** Resolves with the first frame (already received or not) that `match` accepts; rejects when the socket closes first. */
  waitForFrame(match: (frame: RawFrame) => boolean): Promise<RawFrame>;
  /** Resolves when the server closed its side (FIN or reset). */
  readonly closed: Promise<void>;
  /** Ends our side (FIN) but keeps reading. */
  end(): void;
  /** Destroys the socket. */
  destroy(): void;
  readonly socket: Socket;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Options of {@link connectRawHttp2}. */
export interface RawHttp2Options {
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** Local address to connect from (any of 127.0.0.0/8 on Linux). @default the system's choice */
  readonly localAddress?: string;
  /** Acknowledge the server's PINGs, as every live HTTP/2 peer does; false plays a half-open peer. @default true */
  readonly answerPings?: boolean;
}

/** Opens a raw HTTP/2 connection (no TLS) to `port`; resolves once TCP is connected. */
export function connectRawHttp2(port: number, options: RawHttp2Options = {}): Promise<RawHttp2Connection> {
  const { host = "127.0.0.1", localAddress, answerPings = true } = options;
  return new Promise((resolve, reject) => {
    const socket = connect(localAddress === undefined ? { port, host } : { port, host, localAddress });
    const frames: RawFrame[] = [];
    const waiters = new Set<{ match: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void; reject: (e: Error) => void }>();
    let buffered = Buffer.alloc(0);
    let ended = false;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((done) => (markClosed = done));
    const finish = (): void => {
      if (ended) return;
      ended = true;
      markClosed();
      for (const waiter of waiters) waiter.reject(new Error("connection closed before the expected frame"));
      waiters.clear();
    };
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const frame: RawFrame = {
          type: buffered[3]!,
          flags: buffered[4]!,
          streamId: buffered.readUInt32BE(5) & 0x7fffffff,
          payload: buffered.subarray(9, 9 + length),
        };
        buffered = buffered.subarray(9 + length);
        frames.push(frame);
        if (answerPings && frame.type === FrameType.PING && (frame.flags & FrameFlag.ACK) === 0 && !socket.destroyed) {
          socket.write(Buffer.concat([Buffer.from([0, 0, 8, FrameType.PING, FrameFlag.ACK, 0, 0, 0, 0]), frame.payload]));
        }
        for (const waiter of waiters) {
          if (waiter.match(frame)) {
            waiters.delete(waiter);
            waiter.resolve(frame);
          }
        }
      }
    });
    socket.on("end", finish);
    socket.on("close", finish);
    socket.on("error", () => finish());
    socket.once("connect", () => {
      const write = (bytes: Buffer): void => {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      };
      const frame = (type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): void => {
        const header = Buffer.alloc(9);
        header.writeUIntBE(payload.length, 0, 3);
        header[3] = type;
        header[4] = flags;
        header.writeUInt32BE(streamId & 0x7fffffff, 5);
        write(Buffer.concat([header, payload]));
      };
      resolve({
        frames,
        write,
        frame,
        preface: () => {
          write(PREFACE);
          frame(FrameType.SETTINGS, 0, 0);
        },
        headers: (streamId, path, options = {}) => {
          const block = encodeHeaderBlock([
            [":method", "POST"],
            [":scheme", "http"],
            [":path", path],
            [":authority", `${host}:${port}`],
            ["content-type", "application/grpc"],
            ["te", "trailers"],
            ...Object.entries(options.extra ?? {}),
          ]);
          frame(FrameType.HEADERS, FrameFlag.END_HEADERS | (options.endStream ? FrameFlag.END_STREAM : 0), streamId, block);
        },
        data: (streamId, payload, endStream = false) => frame(FrameType.DATA, endStream ? FrameFlag.END_STREAM : 0, streamId, payload),
        reset: (streamId, code = 0x8) => {
          const payload = Buffer.alloc(4);
          payload.writeUInt32BE(code);
          frame(FrameType.RST_STREAM, 0, streamId, payload);
        },
        waitForFrame: (match) => {
          const seen = frames.find(match);
          if (seen !== undefined) return Promise.resolve(seen);
          if (ended) return Promise.reject(new Error("connection closed before the expected frame"));
          return new Promise((resolveFrame, rejectFrame) => waiters.add({ match, resolve: resolveFrame, reject: rejectFrame }));
        },
        closed,
        end: () => socket.end(),
        destroy: () => socket.destroy(),
        socket,
      });
    });
    socket.once("error", reject);
  });
}

/** HPACK "literal header field without indexing — new name", no Huffman (RFC 7541 §6.2.2). */
export function encodeHeaderBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  }
  return Buffer.concat(parts);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([hpackInteger(bytes.length, 7, 0x00), bytes]);
}

function hpackInteger(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}
