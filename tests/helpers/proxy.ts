// PROXY protocol headers for tests, built byte by byte from the spec
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), independently of the parser in
// host/reactor/proxy.ts: a test that builds its input with the code under test proves little.

const te = new TextEncoder();

/** "PROXY TCP4|TCP6 src dst sport dport\r\n", or "PROXY UNKNOWN\r\n". */
export function proxyV1(family: "TCP4" | "TCP6" | "UNKNOWN", src = "", dst = "", sport = 0, dport = 0): Uint8Array {
  return te.encode(family === "UNKNOWN" ? "PROXY UNKNOWN\r\n" : `PROXY ${family} ${src} ${dst} ${sport} ${dport}\r\n`);
}

export const V2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

export interface V2Spec {
  command?: "proxy" | "local";
  /** 0x00 UNSPEC, 0x11 TCP4, 0x21 TCP6, 0x31 UNIX stream (or anything, for bad cases). */
  fam: number;
  /** 4 or 16 address bytes each, as numbers. */
  src?: number[]; dst?: number[]; sport?: number; dport?: number;
  tlvs?: { type: number; value: number[] }[];
  /** Override the length field (bad cases). */
  lengthField?: number;
  verCmd?: number;
}

export function proxyV2(s: V2Spec): Uint8Array {
  const body: number[] = [];
  if (s.fam === 0x11 || s.fam === 0x21) {
    body.push(...(s.src ?? []), ...(s.dst ?? []));
    const sp = s.sport ?? 0, dp = s.dport ?? 0;
    body.push(sp >> 8, sp & 0xff, dp >> 8, dp & 0xff);
  } else if (s.fam === 0x31) {
    body.push(...new Array(216).fill(0));
  }
  for (const t of s.tlvs ?? []) body.push(t.type, t.value.length >> 8, t.value.length & 0xff, ...t.value);
  const len = s.lengthField ?? body.length;
  const verCmd = s.verCmd ?? (0x20 | (s.command === "local" ? 0 : 1));
  return new Uint8Array([...V2_SIG, verCmd, s.fam, len >> 8, len & 0xff, ...body]);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** An AWS NLB-like TLV: PP2_TYPE_AWS (0xEA), subtype 0x01, a VPC endpoint id. */
export const AWS_VPCE_TLV = { type: 0xea, value: [0x01, ...te.encode("vpce-08d2bf15fac5001c9")] };
