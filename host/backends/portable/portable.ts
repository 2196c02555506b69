// The portable host (the runtime's own sockets): placeholder until the backend lands (issue 9).
import type { Host } from "../../contract/contract.ts";
import { ReactorError } from "../../errors.ts";

export interface PortableOptions { noDelay: boolean; log: (line: string) => void }

export function createPortableHost(_o: PortableOptions): Host {
  throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: host 'portable' is not available in this build yet");
}
