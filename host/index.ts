// Public API of wasm-reactor.
export { Core, coreModule } from "./core.ts";
