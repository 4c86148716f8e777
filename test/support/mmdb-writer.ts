/**
 * Writes small MaxMind DB (.mmdb) files for tests, so the GeoIP code is tested against the real
 * reader (`maxmind`) without downloading or bundling a vendor's database (whose licences restrict
 * redistribution). Written by hand from the published MaxMind DB format (version 2.0): the npm
 * registry has readers but no maintained writer, and a Python writer would add a second toolchain
 * to the tests. It covers what the tests need: an IPv6 tree (IPv4 under ::/96), 24-bit records,
 * and maps, strings, unsigned integers, doubles and arrays in the data section. No pointers, so
 * every network's record is written out in full.
 */
import ipaddr from "ipaddr.js";

export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

interface Node {
  children: [Node | number | undefined, Node | number | undefined];
}

const METADATA_MARKER = Buffer.from([0xab, 0xcd, 0xef, ...Buffer.from("MaxMind.com")]);

/** A database mapping each CIDR to its record, e.g. `{ "192.0.2.0/24": { country: { iso_code: "DE" } } }`. */
export function buildMmdb(databaseType: string, networks: Record<string, MmdbValue>): Buffer {
  const root: Node = { children: [undefined, undefined] };
  const records: Buffer[] = [];
  let dataSize = 0;
  const offsets: number[] = [];
  for (const [cidr, value] of Object.entries(networks)) {
    const encoded = encode(value);
    offsets.push(dataSize);
    records.push(encoded);
    dataSize += encoded.length;
    insert(root, bitsOf(cidr), offsets.length - 1);
  }
  const nodes: Node[] = [];
  const number = new Map<Node, number>();
  const visit = (node: Node) => {
    number.set(node, nodes.length);
    nodes.push(node);
    for (const child of node.children) if (child && typeof child === "object") visit(child);
  };
  visit(root);
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 6);
  nodes.forEach((node, index) => {
    node.children.forEach((child, side) => {
      const record =
        child === undefined ? nodeCount : typeof child === "number" ? nodeCount + 16 + offsets[child]! : number.get(child)!;
      tree.writeUIntBE(record, index * 6 + side * 3, 3);
    });
  });
  const metadata = encode({
    node_count: nodeCount,
    record_size: 24,
    ip_version: 6,
    database_type: databaseType,
    languages: ["en"],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1_765_000_000,
    description: { en: "Palisade test database" },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...records, METADATA_MARKER, metadata]);
}

/** The network's bits in the IPv6 tree: IPv4 networks sit under ::/96, as MaxMind's IPv4 lookups expect. */
function bitsOf(cidr: string): number[] {
  const [address, prefix] = ipaddr.parseCIDR(cidr);
  const bytes = address.kind() === "ipv4" ? [...new Array<number>(12).fill(0), ...address.toByteArray()] : address.toByteArray();
  const length = address.kind() === "ipv4" ? prefix + 96 : prefix;
  return Array.from({ length }, (_, i) => (bytes[i >> 3]! >> (7 - (i & 7))) & 1);
}

function insert(root: Node, bits: number[], record: number): void {
  let node = root;
  bits.forEach((bit, depth) => {
    const side = bit as 0 | 1;
    if (depth === bits.length - 1) {
      node.children[side] = record;
      return;
    }
    let next = node.children[side];
    if (typeof next !== "object") {
      // A wider network already here is pushed down to both halves before the narrower one goes in.
      const wider = next;
      next = { children: [wider, wider] };
      node.children[side] = next;
    }
    node = next;
  });
}

/** Data section encoding: control byte (type, size), extended types after it, then the payload. */
function encode(value: MmdbValue): Buffer {
  if (typeof value === "string") return withControl(2, Buffer.from(value, "utf8"));
  if (typeof value === "boolean") return control(14, value ? 1 : 0);
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      const payload = Buffer.alloc(8);
      payload.writeDoubleBE(value);
      return withControl(3, payload);
    }
    if (value < 0 || value > Number.MAX_SAFE_INTEGER) throw new Error(`unsupported integer ${value}`);
    const bytes: number[] = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    return withControl(value <= 0xffff ? 5 : value <= 0xffffffff ? 6 : 9, Buffer.from(bytes));
  }
  if (Array.isArray(value)) return Buffer.concat([control(11, value.length), ...value.map(encode)]);
  const entries = Object.entries(value);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([key, item]) => [encode(key), encode(item)])]);
}

function withControl(type: number, payload: Buffer): Buffer {
  return Buffer.concat([control(type, payload.length), payload]);
}

function control(type: number, size: number): Buffer {
  const extended = type > 7;
  const head = extended ? 0 : type << 5;
  const typeByte = extended ? [type - 7] : [];
  if (size < 29) return Buffer.from([head | size, ...typeByte]);
  if (size < 29 + 256) return Buffer.from([head | 29, ...typeByte, size - 29]);
  if (size < 285 + 65_536) return Buffer.from([head | 30, ...typeByte, (size - 285) >> 8, (size - 285) & 0xff]);
  const rest = size - 65_821;
  return Buffer.from([head | 31, ...typeByte, rest >> 16, (rest >> 8) & 0xff, rest & 0xff]);
}
