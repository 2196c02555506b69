// The kqueue host (macOS, FreeBSD): placeholder until the backend lands (issue 9).
import type { Host } from "../../contract/contract.ts";
import { ReactorError } from "../../errors.ts";

export interface KqueueOptions { wait: "block" | "thread"; edgeTriggered: boolean; noDelay: boolean; shedOnEmfile: boolean; maxEvents: number; log: (line: string) => void }

export function createKqueueHost(_o: KqueueOptions): Host {
  throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: host 'kqueue' is not available in this build yet");
}
