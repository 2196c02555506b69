// Children that talk one line at a time (the signal, EMFILE and contract children, and their
// parents): the one line reader. Objects go as JSON, one a line; a line that is not JSON is the
// other side's own noise and goes to `other`.
import type { Readable } from "node:stream";

/** Calls `each` with every complete line that arrives on `stream` (without its newline). */
export function onLines(stream: Readable, each: (line: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => {
    buf += d;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      each(line);
    }
  });
}

/** Calls `each` with every JSON object that arrives a line at a time; other lines go to `other`. */
export function onJsonLines<T = Record<string, unknown>>(stream: Readable, each: (o: T) => void, other: (line: string) => void): void {
  onLines(stream, (line) => {
    let o: T;
    try { o = JSON.parse(line) as T; } catch { other(line); return; }
    each(o);
  });
}
