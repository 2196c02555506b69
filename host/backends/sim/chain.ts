// The simulator's one reader of chunk metadata: a WRITE's chain, checked as a native shim checks
// it (the core's memory is not trusted: a broken core can name any index, range or loop), then
// copied out as writev would.
import { type Core, K } from "../../core/core.ts";
import { ChunkMeta, ChunkMeta_BYTES } from "../../core/layout.ts";

/**
 * Why the chain from `head` cannot carry `bytes` bytes, or undefined when it can: every chunk
 * index below the chunk count, each chunk's [start, start + len) within the chunk, no chunk
 * twice (a loop, even one the byte count would end), and long enough.
 */
export function chainFault(core: Core, head: number, bytes: number): string | undefined {
  const count = core.caps.chunkCount, size = core.chunkSize, u32 = core.u32;
  let c = head, left = bytes;
  const seen = new Set<number>();
  while (left > 0) {
    if (c === K.NONE) return `the chain ends ${left} of ${bytes} bytes short`;
    if (c >= count) return `chunk index ${c} is not below the chunk count ${count}`;
    if (seen.has(c)) return `the chain loops (chunk ${c} comes twice)`;
    seen.add(c);
    const meta = core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    const start = u32[(meta + ChunkMeta.start) >> 2], len = u32[(meta + ChunkMeta.len) >> 2];
    if (start > size || len > size - start) return `chunk ${c}: start ${start} + len ${len} is past the chunk size ${size}`;
    left -= Math.min(len, left);
    c = u32[(meta + ChunkMeta.next) >> 2];
  }
  return undefined;
}

/** Copies the first out.length bytes of a chain that chainFault() passed into `out`. */
export function gatherChain(core: Core, head: number, out: Uint8Array): void {
  const u32 = core.u32;
  let c = head, done = 0;
  while (done < out.length) {
    const meta = core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    const start = u32[(meta + ChunkMeta.start) >> 2];
    const n = Math.min(u32[(meta + ChunkMeta.len) >> 2], out.length - done);
    const from = core.chunkDataOffset(c) + start;
    out.set(core.u8.subarray(from, from + n), done);
    done += n;
    c = u32[(meta + ChunkMeta.next) >> 2];
  }
}
