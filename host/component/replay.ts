// Replaying a trace through the core component: the same replay as the shared-memory core's
// (replayVia in host/trace/replay.ts reads the records, feeds the clock and random values,
// compares results and per-turn hashes); only how a call's inputs reach the core and its
// outputs come back differs. Here each recorded call is one step: the events and cursors the
// trace moved since the last call go in as lists, and the submissions, notes and published
// words the call produced come back as lists and are hashed as the shared-memory replay hashes
// them in place.
import { EventRec_BYTES } from "../core/layout.ts";
import { RECORDED, OutputHasher, PUBLISHED, type TraceHeader } from "../trace/format.ts";
import { openTrace, replayVia, type ReplayTarget, type ReplayFileResult, type ReplayFileOptions, type TraceRecord, type ReplayOptions, type ReplayResult } from "../trace/replay.ts";
import { ComponentCore, type ComponentBuild, type ComponentOp, type ComponentOutput } from "./component.ts";

/** A recorded function's name as the component's `op` enum spells it (listenerOpen → listener-open). */
export const COMPONENT_OPS: readonly ComponentOp[] = RECORDED.map((n) => n.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()) as ComponentOp);

/** The component as a replay target. */
export function componentTarget(core: ComponentCore): ReplayTarget {
  let last: ComponentOutput | undefined;
  const published = new Array<number>(PUBLISHED.length);
  return {
    eventTail: () => core.eventTail,
    input(body, at, n, sh, sp, nh) {
      if (n) core.pushEvents(new Uint8Array(body.buffer, body.byteOffset + at, n * EventRec_BYTES));
      if (sh !== undefined) core.submitHead = sh;
      if (sp !== undefined) core.supplyHead = sp;
      if (nh !== undefined) core.noteHead = nh;
    },
    call(fn, args) {
      last = core.step(COMPONENT_OPS[fn], args);
      return last.returned;
    },
    fold(hasher, fn, ret) {
      const o = last!;
      for (let k = 0; k < PUBLISHED.length; k++) published[k] = o.published[PUBLISHED[k]];
      hasher.afterOutputs(fn, ret, o.submissions, o.notes, published);
    },
    hasher: (keep) => new OutputHasher(undefined, keep),
    checkInvariants: () => core.audit(),
  };
}

/** Replays parsed trace records through a fresh component of the trace's build (`dir`: where its transpiled module is). */
export function replayComponentTrace(parsed: { header: TraceHeader; records: TraceRecord[] }, opts: ReplayOptions & { dir?: URL } = {}): Promise<ReplayResult<ComponentCore>> {
  const h = parsed.header;
  return replayVia(parsed, (hooks) => ComponentCore.create(h.build as ComponentBuild, h.caps as never, h.config, hooks, opts.dir), componentTarget, opts);
}

/**
 * replayFile through the component: reads the trace, refuses what replayFile refuses (another
 * layout, an unknown build, without `force` a trace of another core), replays it.
 */
export async function replayComponentFile(path: string, opts: ReplayFileOptions & { dir?: URL } = {}): Promise<ReplayFileResult<ComponentCore>> {
  const { parsed, bytes } = await openTrace(path, opts);
  const t0 = performance.now();
  const r = await replayComponentTrace(parsed, opts);
  return { ...r, header: parsed.header, ms: performance.now() - t0, bytes: bytes.length };
}
