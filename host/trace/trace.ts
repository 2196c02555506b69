// Record and replay (see format.ts for what a trace holds and its file format): Recorder in
// record.ts, readTrace/replayTrace/replayFile in replay.ts. Importers use this file.
export * from "./format.ts";
export * from "./record.ts";
export * from "./replay.ts";
