// The simulator's random numbers: sfc32, small and fast, seeded deterministically. Every random
// choice the simulator makes (fault odds, partial sizes, the core's random_get) comes from one
// of these, drawn in a fixed order, so the same seed gives the same run on every runtime.

/** sfc32: small, fast, good enough for fault odds; seeded deterministically. */
export class Prng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  float(): number { return this.next() / 4294967296; }
  int(n: number): number { return Math.floor(this.float() * n); }
  /**
   * One draw whatever p is: a fault turned down to 0 takes its draw all the same, so the rest of
   * the run keeps its random stream (the fuzzer's shrinking relies on this).
   */
  chance(p: number): boolean { const x = this.float(); return x < p; }
}
