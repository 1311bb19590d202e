/**
 * A DNS resolver that asks configured servers over TCP (RFC 7766), for DNS discovery.
 *
 * Why not `node:dns`: its c-ares queries go over UDP without EDNS0, so answers are capped
 * at 512 bytes, and a server may trim them without saying so. Consul does exactly that: a
 * plain UDP answer carries at most 3 records (`dns_config.udp_answer_limit`) and, unless
 * the agent sets `enable_truncate`, no TC bit — so a service with 5 instances looks like 3,
 * a different 3 on every query. Over TCP the whole set comes back. SRV answers also bring
 * the targets' A/AAAA records in the additional section; they are returned with each SRV
 * record, which saves a query per target.
 */
import { connect } from "node:net";
import type { DnsResolver, SrvRecord } from "./dns-discovery.js";

/** Options of {@link createTcpDnsResolver}. */
export interface TcpDnsResolverOptions {
  /** Servers to ask, in order, as `ip:port` or `[ipv6]:port` ({@link parseDnsServers} output). */
  readonly servers: readonly string[];
  /** Deadline of one query to one server. @default 2000 */
  readonly timeoutMs?: number;
  /** Query ids (16 bits); injectable for tests. @default Math.random */
  readonly random?: () => number;
}

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
// Error codes as node:dns spells them, so callers treat both resolvers alike.
const RCODE_ERRORS: Readonly<Record<number, string>> = { 1: "EFORMERR", 2: "ESERVFAIL", 3: "ENOTFOUND", 4: "ENOTIMP", 5: "EREFUSED" };

/** A resolver over TCP to `servers`; each lookup tries them in order until one answers. */
export function createTcpDnsResolver(options: TcpDnsResolverOptions): DnsResolver {
  const servers = options.servers.map(splitServer);
  if (servers.length === 0) throw new Error("dns over tcp: no servers");
  const timeoutMs = options.timeoutMs ?? 2000;
  const random = options.random ?? Math.random;

  const query = async (name: string, type: number): Promise<DnsAnswer> => {
    let lastError: unknown;
    for (const server of servers) {
      try {
        const answer = decode(await exchange(server, encodeQuery(Math.floor(random() * 0x10000), name, type), timeoutMs));
        const failure = RCODE_ERRORS[answer.rcode];
        // NXDOMAIN is an answer, not a reason to ask the next server.
        if (failure !== undefined && answer.rcode !== 3) throw dnsError(failure, type, name, server);
        if (failure !== undefined) throw dnsError(failure, type, name);
        return answer;
      } catch (error) {
        if ((error as { code?: string }).code === "ENOTFOUND") throw error;
        lastError = error;
      }
    }
    throw lastError;
  };
  const records = async (name: string, type: number): Promise<DnsAnswer["answers"]> => {
    const answer = await query(name, type);
    const matching = answer.answers.filter((record) => record.type === type);
    if (matching.length === 0) throw dnsError("ENODATA", type, name);
    return matching;
  };
  const addresses = async (name: string, type: number): Promise<string[]> =>
    (await records(name, type)).map((record) => record.address ?? "");

  return {
    resolve4: (host) => addresses(host, TYPE.A),
    resolve6: (host) => addresses(host, TYPE.AAAA),
    async resolveSrv(name): Promise<SrvRecord[]> {
      const answer = await query(name, TYPE.SRV);
      const srv = answer.answers.filter((record) => record.type === TYPE.SRV);
      if (srv.length === 0) throw dnsError("ENODATA", TYPE.SRV, name);
      // Consul repeats a shared target's address once per SRV record: keep each address once.
      const extra = new Map<string, Set<string>>();
      for (const record of answer.additional) {
        if (record.address === undefined) continue;
        const key = record.name.toLowerCase();
        extra.set(key, (extra.get(key) ?? new Set()).add(record.address));
      }
      return srv.map((record) => {
        const target = record.srv!;
        const found = extra.get(target.name.toLowerCase());
        return found === undefined ? target : { ...target, addresses: [...found] };
      });
    },
  };
}

interface Server {
  readonly host: string;
  readonly port: number;
  readonly label: string;
}

function splitServer(server: string): Server {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(server);
  if (!match) throw new Error(`dns over tcp: server "${server}" is not ip:port`);
  return { host: (match[1] ?? match[2])!, port: Number(match[3]), label: server };
}

function dnsError(code: string, type: number, name: string, server?: Server): Error {
  const kind = type === TYPE.SRV ? "querySrv" : type === TYPE.AAAA ? "queryAaaa" : "queryA";
  return Object.assign(new Error(`${kind} ${code} ${name}${server === undefined ? "" : ` (from ${server.label})`}`), {
    code,
    hostname: name,
  });
}

/** One length-prefixed query and its answer over a fresh TCP connection. */
function exchange(server: Server, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(Object.assign(new Error(`DNS server ${server.label} did not answer within ${timeoutMs} ms`), { code: "ETIMEOUT" })),
    );
    socket.once("error", fail);
    socket.once("connect", () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      // Not end(): some servers close a half-closed connection before answering.
      socket.write(Buffer.concat([length, message]));
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (received >= 2 && received >= 2 + all.readUInt16BE(0)) {
        socket.destroy();
        resolve(all.subarray(2, 2 + all.readUInt16BE(0)));
      }
    });
    socket.once("end", () =>
      fail(Object.assign(new Error(`DNS server ${server.label} closed the connection before answering`), { code: "ECONNRESET" })),
    );
  });
}

function encodeQuery(id: number, name: string, type: number): Buffer {
  const labels = name.replace(/\.$/, "").split(".");
  if (labels.some((label) => label.length === 0 || label.length > 63))
    throw Object.assign(new Error(`"${name}" is not a DNS name`), { code: "EBADNAME" });
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // recursion desired
  header.writeUInt16BE(1, 4); // one question
  const question = Buffer.concat([
    ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, "ascii")])),
    Buffer.from([0, type >> 8, type & 0xff, 0, 1]),
  ]);
  return Buffer.concat([header, question]);
}

interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly address?: string;
  readonly srv?: SrvRecord;
}

interface DnsAnswer {
  readonly rcode: number;
  readonly answers: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
}

function decode(message: Buffer): DnsAnswer {
  const malformed = (): Error => Object.assign(new Error("malformed DNS answer"), { code: "EBADRESP" });
  if (message.length < 12) throw malformed();
  const rcode = message.readUInt16BE(2) & 0x0f;
  const counts = [4, 6, 8, 10].map((offset) => message.readUInt16BE(offset));
  let offset = 12;
  const readName = (start: number): { name: string; next: number } => {
    const labels: string[] = [];
    let at = start;
    let next = -1;
    for (let jumps = 0; jumps < 64; jumps += 1) {
      if (at >= message.length) throw malformed();
      const length = message[at]!;
      if (length === 0) return { name: labels.join("."), next: next === -1 ? at + 1 : next };
      if ((length & 0xc0) === 0xc0) {
        if (at + 1 >= message.length) throw malformed();
        if (next === -1) next = at + 2;
        at = ((length & 0x3f) << 8) | message[at + 1]!;
        continue;
      }
      labels.push(message.toString("ascii", at + 1, at + 1 + length));
      at += 1 + length;
    }
    throw malformed(); // a compression loop
  };
  for (let i = 0; i < counts[0]!; i += 1) offset = readName(offset).next + 4;
  const readRecords = (count: number): DnsRecord[] => {
    const records: DnsRecord[] = [];
    for (let i = 0; i < count; i += 1) {
      const { name, next } = readName(offset);
      if (next + 10 > message.length) throw malformed();
      const type = message.readUInt16BE(next);
      const length = message.readUInt16BE(next + 8);
      const data = next + 10;
      if (data + length > message.length) throw malformed();
      offset = data + length;
      if (type === TYPE.A && length === 4) records.push({ name, type, address: [...message.subarray(data, data + 4)].join(".") });
      else if (type === TYPE.AAAA && length === 16) records.push({ name, type, address: ipv6(message.subarray(data, data + 16)) });
      else if (type === TYPE.SRV && length >= 7) {
        const srv = {
          priority: message.readUInt16BE(data),
          weight: message.readUInt16BE(data + 2),
          port: message.readUInt16BE(data + 4),
          name: readName(data + 6).name,
        };
        records.push({ name, type, srv });
      } else records.push({ name, type });
    }
    return records;
  };
  const answers = readRecords(counts[1]!);
  readRecords(counts[2]!);
  const additional = readRecords(counts[3]!);
  return { rcode, answers, additional };
}

/** The canonical text form (as node:dns returns it), through the URL parser's normalisation. */
function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}
