// The simulator's named fault odds, checked once, and the random stream each kind draws from.
import { Prng } from "./prng.ts";
import { ReactorError } from "../../errors.ts";

/** Named fault odds (0..1), each drawn where the fault can happen. */
export interface SimFaults {
  /** A read returns fewer bytes than are available. */
  readPartialProbability: number;
  /** A write takes fewer bytes than the window allows. */
  writePartialProbability: number;
  /** A write takes nothing: EAGAIN. */
  writeEagainProbability: number;
  /** Per read of an open connection: the peer resets it (ECONNRESET). */
  resetProbability: number;
  /** Per write: the peer is gone (EPIPE). */
  epipeProbability: number;
  /** Per accept: EMFILE. */
  acceptEmfileProbability: number;
  /** Per accept: ENFILE. */
  acceptEnfileProbability: number;
  /** Per connect: ECONNREFUSED although a server listens. */
  connectRefusedProbability: number;
  /** Per wait: the clock jumps forward by up to clockJumpMaxMs. */
  clockJumpProbability: number;
  clockJumpMaxMs: number;
}

export const NO_FAULTS: SimFaults = {
  readPartialProbability: 0, writePartialProbability: 0, writeEagainProbability: 0,
  resetProbability: 0, epipeProbability: 0, acceptEmfileProbability: 0, acceptEnfileProbability: 0,
  connectRefusedProbability: 0, clockJumpProbability: 0, clockJumpMaxMs: 0,
};

/** The fault kinds that draw, in the order their streams are seeded (never reorder: seeds move). */
const STREAMS = ["clockJump", "acceptEmfile", "acceptEnfile", "reset", "readPartial", "connectRefused", "epipe", "writeEagain", "writePartial"] as const;
export type FaultStreams = Record<(typeof STREAMS)[number], Prng>;

/**
 * One stream per fault kind, each seeded from `seed`: whether a kind fires (and how big its
 * partial read or write is) does not move any other kind's draws. So turning one fault off
 * leaves the rest of the run as it was, which is what lets the fuzzer shrink a failure.
 */
export function faultStreams(seed: number): FaultStreams {
  return Object.fromEntries(STREAMS.map((k, i) => [k, new Prng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)])) as FaultStreams;
}

/** The odds asked for over NO_FAULTS; an unknown name or a value out of range is refused, naming both. */
export function checkFaults(given: Partial<SimFaults> | undefined): SimFaults {
  const faults = { ...NO_FAULTS, ...(given ?? {}) };
  for (const [k, v] of Object.entries(faults)) {
    if (!(k in NO_FAULTS)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown sim fault '${k}'; known: ${Object.keys(NO_FAULTS).join(", ")}`);
    if (typeof v !== "number" || !(v >= 0) || (k !== "clockJumpMaxMs" && v > 1)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: sim fault '${k}' must be ${k === "clockJumpMaxMs" ? "a number of ms >= 0" : "a probability from 0 to 1"}, got ${String(v)}`);
  }
  return faults;
}
