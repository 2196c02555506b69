// What every command shares: how a command fails (one line, exit status 2) and how numbers print.
/** Prints one line saying what was wrong and exits with status 2 (a bad option, or a port that cannot be used). */
export function fail(msg: string): never {
  console.error(`wasm-reactor: ${msg}`);
  process.exit(2);
}

/** 12,345 */
export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
