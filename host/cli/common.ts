// What every command shares: how a command fails (one line, exit status 2) and how numbers print.
/** Prints one line saying what was wrong and exits with status 2 (a bad option, or a port that cannot be used). */
export function fail(msg: string): never {
  console.error(`wasm-reactor: ${msg}`);
  process.exit(2);
}

/**
 * 12,345. Not toLocaleString: its first call loads ICU's number formatting, which cost serve
 * 8 MB of RSS at start (measured with /proc/self/smaps: node's read-only data +4.6 MB, heap +2.3).
 */
export const fmt = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
