// What the bundles get instead of the `debug` package (tools/build.mjs aliases it here).
// wasi-js imports `debug` only for trace logging that the core never needs, and `debug` reads
// process.env.DEBUG while the bundle is still loading: under Deno without --allow-env that read
// throws NotCapable before any of our code can run (`deno run dist/cli.js` died with a stack
// trace from inside wasi-js), and with DEBUG=wasi set, wasi-js wraps every WASI import in a
// logger, on the core's hot path. This stand-in keeps the shape wasi-js uses (a factory of
// loggers with an `enabled` flag) and never logs.
interface Logger { (...args: unknown[]): void; enabled: boolean }

export default function createDebug(_namespace: string): Logger {
  const log = (() => {}) as Logger;
  log.enabled = false;
  return log;
}
