import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { closeClient, createClient, type Client } from "@trellis/kit";
import { grpcFrame, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { ChangeType, UserService, WatchUsersRequestSchema, WatchUsersResponseSchema } from "@trellis/api/trellis/user/v1/user_pb.js";
import { USER_MAIN } from "./user-main.js";

/**
 * A quiet change feed still tells its client it is live: WatchUsers sends its response headers
 * once the feed position is taken, before any change. Browsers (and a web app's "live" badge)
 * learn that a stream is set up only from its headers; without them, a change made right after
 * the page loaded could not be told apart from one made before the watch began.
 */
describe("WatchUsers response headers", () => {
  let user: ServiceProcess;
  let users: Client<typeof UserService>;
  let session: ClientHttp2Session;
  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    users = createClient(UserService, `127.0.0.1:${user.port}`);
    session = connect(`http://${user.address}`);
  });
  after(async () => {
    session?.close();
    if (users !== undefined) closeClient(users);
    await user?.stop();
  });

  for (const mode of ["from now", "after a resume token"] as const) {
    // Bounded: without early headers the wait for them would last until the runner gives up.
    it(`arrive before the first change (${mode}), and the first change made after them is delivered`, { timeout: 60_000 }, async () => {
      let resumeToken = "";
      if (mode === "after a resume token") {
        // A token from a change that already happened: the watch resumes right after it.
        const first = watch(session, "");
        await first.headers;
        await users.createUser({ email: `first-${Date.now()}@example.com`, displayName: "First" });
        resumeToken = (await first.nextChange()).resumeToken;
        first.stream.close();
      }
      const feed = watch(session, resumeToken);
      const headers = await feed.headers;
      assert.equal(headers[":status"], 200);
      assert.equal(feed.received(), 0, "no change has happened: the headers came on their own");
      const { user: created } = await users.createUser({ email: `live-${mode.length}-${Date.now()}@example.com`, displayName: "Live" });
      const change = await feed.nextChange();
      assert.equal(change.type, ChangeType.CREATED);
      assert.equal(change.user?.id, created?.id);
      feed.stream.close();
    });
  }
});

/** WatchUsers over raw HTTP/2, to see when its headers arrive. */
function watch(session: ClientHttp2Session, resumeToken: string) {
  const stream: ClientHttp2Stream = session.request({
    ":method": "POST",
    ":path": "/trellis.user.v1.UserService/WatchUsers",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(grpcFrame(toBinary(WatchUsersRequestSchema, create(WatchUsersRequestSchema, { resumeToken }))));
  let buffered = Buffer.alloc(0);
  let bytes = 0;
  const waiting: (() => void)[] = [];
  stream.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    buffered = Buffer.concat([buffered, chunk]);
    waiting.splice(0).forEach((wake) => wake());
  });
  stream.on("close", () => waiting.splice(0).forEach((wake) => wake()));
  const headers = new Promise<Record<string, unknown>>((resolve, reject) => {
    stream.once("response", resolve);
    stream.once("close", () => reject(new Error("the stream closed before its headers")));
  });
  return {
    stream,
    headers,
    received: () => bytes,
    async nextChange() {
      for (;;) {
        if (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
          const length = buffered.readUInt32BE(1);
          const message = fromBinary(WatchUsersResponseSchema, buffered.subarray(5, 5 + length));
          buffered = buffered.subarray(5 + length);
          return message;
        }
        if (stream.closed) throw new Error("the stream ended before a change");
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
    },
  };
}
