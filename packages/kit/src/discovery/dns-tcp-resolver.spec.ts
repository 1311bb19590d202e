import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createTcpDnsResolver } from "./dns-tcp-resolver.js";

/** A record to put in an answer: `data` is its RDATA, already encoded. */
interface Rr {
  readonly name: string;
  readonly type: number;
  readonly data: Buffer;
}

const label = (name: string): Buffer =>
  Buffer.concat([...name.split(".").map((part) => Buffer.concat([Buffer.from([part.length]), Buffer.from(part)])), Buffer.from([0])]);
const u16 = (value: number): Buffer => Buffer.from([value >> 8, value & 0xff]);
const a = (name: string, ip: string): Rr => ({ name, type: 1, data: Buffer.from(ip.split(".").map(Number)) });
const aaaa = (name: string, bytes: number[]): Rr => ({ name, type: 28, data: Buffer.from(bytes) });
// The target is a compression pointer to offset 12, the question's name, as real servers write it.
const srvToQuestion = (name: string, port: number): Rr => ({
  name,
  type: 33,
  data: Buffer.concat([u16(1), u16(5), u16(port), Buffer.from([0xc0, 12])]),
});
const srv = (name: string, port: number, target: string): Rr => ({
  name,
  type: 33,
  data: Buffer.concat([u16(1), u16(5), u16(port), label(target)]),
});

/** An answer to `query` (its id and question copied), with `rcode`, answers and additional records. */
function answer(query: Buffer, rcode: number, answers: readonly Rr[], additional: readonly Rr[] = []): Buffer {
  const questionEnd = query.indexOf(0, 12) + 5;
  const header = Buffer.concat([query.subarray(0, 2), u16(0x8180 | rcode), u16(1), u16(answers.length), u16(0), u16(additional.length)]);
  const records = [...answers, ...additional].map((rr) =>
    Buffer.concat([label(rr.name), u16(rr.type), u16(1), Buffer.from([0, 0, 0, 0]), u16(rr.data.length), rr.data]),
  );
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}

/** The question's name and type. */
function question(query: Buffer): { name: string; type: number } {
  const labels: string[] = [];
  let at = 12;
  while (query[at] !== 0) {
    labels.push(query.toString("ascii", at + 1, at + 1 + query[at]!));
    at += 1 + query[at]!;
  }
  return { name: labels.join("."), type: query.readUInt16BE(at + 1) };
}

type Behaviour = (query: Buffer, socket: Socket) => Buffer | undefined;

/** A DNS-over-TCP server whose answers `behave` decides; undefined means "say nothing". */
async function startDnsServer(
  behave: Behaviour,
): Promise<{ readonly address: string; readonly queries: string[]; close(): Promise<void> }> {
  const queries: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const query = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      const { name, type } = question(query);
      queries.push(`${type} ${name}`);
      const reply = behave(query, socket);
      if (reply !== undefined) socket.end(Buffer.concat([u16(reply.length), reply]));
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe("createTcpDnsResolver", () => {
  let consulLike: Awaited<ReturnType<typeof startDnsServer>>;
  before(async () => {
    consulLike = await startDnsServer((query) => {
      const { name, type } = question(query);
      if (name === "user.service.consul" && type === 33) {
        // Five instances: more than a 512-byte UDP answer from Consul would carry.
        const answers = [1, 2, 3, 4, 5].map((n) => srv(name, 31000 + n, n === 5 ? "0a000005.addr.dc1.consul" : "0a000001.addr.dc1.consul"));
        return answer(query, 0, answers, [a("0a000001.addr.dc1.consul", "10.0.0.1"), a("0a000001.addr.dc1.consul", "10.0.0.1")]);
      }
      if (name === "self.service.consul" && type === 33) return answer(query, 0, [srvToQuestion(name, 7000)]);
      if (name === "0a000005.addr.dc1.consul" && type === 1) return answer(query, 0, [a(name, "10.0.0.5")]);
      if (name === "v6.service.consul" && type === 28) return answer(query, 0, [aaaa(name, [0xfd, 0, ...Array<number>(13).fill(0), 2])]);
      if (name === "broken.service.consul") return Buffer.from([0, 1, 2]);
      if (name === "fail.service.consul") return answer(query, 2, []);
      if (name.endsWith(".service.consul") && type === 33) return answer(query, 3, []);
      return answer(query, 0, []);
    });
  });
  after(() => consulLike.close());

  it("returns every SRV record, with the target addresses the answer carried (each once)", async () => {
    const resolver = createTcpDnsResolver({ servers: [consulLike.address] });
    const records = await resolver.resolveSrv("user.service.consul");
    assert.equal(records.length, 5);
    assert.deepEqual(
      records.map((record) => [record.port, record.name, record.addresses]),
      [
        [31001, "0a000001.addr.dc1.consul", ["10.0.0.1"]],
        [31002, "0a000001.addr.dc1.consul", ["10.0.0.1"]],
        [31003, "0a000001.addr.dc1.consul", ["10.0.0.1"]],
        [31004, "0a000001.addr.dc1.consul", ["10.0.0.1"]],
        [31005, "0a000005.addr.dc1.consul", undefined],
      ],
    );
    assert.deepEqual(records[0] && [records[0].priority, records[0].weight], [1, 5]);
    assert.deepEqual(await resolver.resolve4("0a000005.addr.dc1.consul"), ["10.0.0.5"]);
    assert.deepEqual(await resolver.resolve6("v6.service.consul"), ["fd00::2"]);
    assert.deepEqual(
      (await resolver.resolveSrv("self.service.consul")).map((record) => record.name),
      ["self.service.consul"],
      "compressed target names",
    );
  });

  it("reports no records the way node:dns does (ENOTFOUND, ENODATA), and server failures as errors", async () => {
    const resolver = createTcpDnsResolver({ servers: [consulLike.address] });
    await assert.rejects(resolver.resolveSrv("gone.service.consul"), { code: "ENOTFOUND" });
    await assert.rejects(resolver.resolve4("user.service.consul"), { code: "ENODATA" });
    await assert.rejects(
      resolver.resolveSrv("fail.service.consul"),
      (error: Error & { code?: string }) => error.code === "ESERVFAIL" && /from 127\.0\.0\.1:\d+/.test(error.message),
    );
    await assert.rejects(resolver.resolveSrv("broken.service.consul"), { code: "EBADRESP" });
  });

  it("asks the next server when one is down, silent or failing; NXDOMAIN is final", async () => {
    const silent = await startDnsServer(() => undefined);
    const closing = await startDnsServer((_query, socket) => {
      socket.end();
      return undefined;
    });
    const down = await startDnsServer(() => undefined);
    const downAddress = down.address;
    await down.close();
    try {
      const resolver = createTcpDnsResolver({
        servers: [downAddress, silent.address, closing.address, consulLike.address],
        timeoutMs: 200,
      });
      assert.equal((await resolver.resolveSrv("user.service.consul")).length, 5);
      const alone = createTcpDnsResolver({ servers: [silent.address], timeoutMs: 200 });
      await assert.rejects(alone.resolve4("x.consul"), { code: "ETIMEOUT" });
      await assert.rejects(createTcpDnsResolver({ servers: [downAddress] }).resolve4("x.consul"), { code: "ECONNREFUSED" });
      const before = silent.queries.length;
      const nx = createTcpDnsResolver({ servers: [consulLike.address, silent.address], timeoutMs: 200 });
      await assert.rejects(nx.resolveSrv("gone.service.consul"), { code: "ENOTFOUND" });
      assert.equal(silent.queries.length, before, "the second server was not asked");
    } finally {
      await silent.close();
      await closing.close();
    }
  });
});
