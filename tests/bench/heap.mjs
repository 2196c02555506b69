// The baseline the timing wheel is measured against: an indexed binary min-heap of timers on
// typed arrays, the structure libuv (src/timer.c, via heap-inl.h) and most JS timer libraries
// use. Written to be a fair opponent, not a straw man:
//
//   - keys (deadline, ms) and ids are stored in heap order, so a sift compares neighbouring
//     Float64Array entries rather than chasing ids;
//   - a position map (id → heap index) makes cancel O(log n), not an O(n) search;
//   - sifts move a hole instead of swapping (one write per level);
//   - no tie-break on equal deadlines (libuv adds a start_id compare for FIFO order among equal
//     deadlines; leaving it out flatters the heap slightly).
//
// Memory: 8 (key) + 4 (id) + 4 (pos) = 16 bytes per timer of capacity, all off the JS heap.
// Not a benchmark itself (run.mjs lists only the bench modules); imported by wheel.mjs.

export class TimerHeap {
  /** @param {number} capacity ids are 0..capacity-1 */
  constructor(capacity) {
    this.capacity = capacity;
    this.keys = new Float64Array(capacity); // deadline of the timer at heap index i
    this.ids = new Int32Array(capacity);    // id of the timer at heap index i
    this.pos = new Int32Array(capacity).fill(-1); // heap index of timer id, -1 when not armed
    this.size = 0;
  }

  /** Bytes of typed-array storage per timer of capacity. */
  get bytesPerTimer() {
    return (this.keys.byteLength + this.ids.byteLength + this.pos.byteLength) / this.capacity;
  }

  /** Arms timer `id` (not armed) to expire at `key`. O(log n). */
  push(id, key) {
    this.siftUp(this.size++, id, key);
  }

  /** Disarms timer `id`; returns whether it was armed. O(log n). */
  cancel(id) {
    const pos = this.pos;
    const i = pos[id];
    if (i < 0) return false;
    pos[id] = -1;
    const last = --this.size;
    if (i !== last) {
      // Move the last entry into the hole, then restore the heap in whichever direction it needs.
      const lastId = this.ids[last], lastKey = this.keys[last];
      if (i > 0 && lastKey < this.keys[(i - 1) >> 1]) this.siftUp(i, lastId, lastKey);
      else this.siftDown(i, lastId, lastKey);
    }
    return true;
  }

  /** The earliest deadline, or Infinity when empty. */
  peekKey() {
    return this.size > 0 ? this.keys[0] : Infinity;
  }

  /** Removes and returns the id of the earliest timer (the caller checked size > 0). */
  pop() {
    const id = this.ids[0];
    this.pos[id] = -1;
    const last = --this.size;
    if (last > 0) this.siftDown(0, this.ids[last], this.keys[last]);
    return id;
  }

  clear() {
    this.pos.fill(-1);
    this.size = 0;
  }

  siftUp(i, id, key) {
    const keys = this.keys, ids = this.ids, pos = this.pos;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentKey = keys[parent];
      if (parentKey <= key) break;
      keys[i] = parentKey;
      const parentId = ids[parent];
      ids[i] = parentId;
      pos[parentId] = i;
      i = parent;
    }
    keys[i] = key;
    ids[i] = id;
    pos[id] = i;
  }

  siftDown(i, id, key) {
    const keys = this.keys, ids = this.ids, pos = this.pos, size = this.size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      let childKey = keys[child];
      const right = child + 1;
      if (right < size) {
        const rightKey = keys[right];
        if (rightKey < childKey) { child = right; childKey = rightKey; }
      }
      if (key <= childKey) break;
      keys[i] = childKey;
      const childId = ids[child];
      ids[i] = childId;
      pos[childId] = i;
      i = child;
    }
    keys[i] = key;
    ids[i] = id;
    pos[id] = i;
  }

  /** O(n) audit for the benchmark's own sanity check: 0 when the heap is valid. */
  check() {
    for (let i = 1; i < this.size; i++) if (this.keys[(i - 1) >> 1] > this.keys[i]) return 1;
    for (let i = 0; i < this.size; i++) if (this.pos[this.ids[i]] !== i) return 2;
    return 0;
  }
}
