// Asserting errors by their code (ReactorError.code), not by their message text: messages are
// for people and may be reworded. Where the message itself is what a test is about (that it
// names the option, the value, what to do), pass a pattern too.
import * as assert from "uvu/assert";
import { ReactorError } from "../../host/index.ts";

/** fn() must throw a ReactorError with this code (and, if given, a message matching `message`). Returns it. */
export function throwsCode(fn: () => unknown, code: string, message?: RegExp): ReactorError {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  assert.ok(err !== undefined, `expected a ReactorError ${code}, but nothing was thrown`);
  assert.instance(err, ReactorError, `expected a ReactorError ${code}, got ${String(err)}`);
  assert.is((err as ReactorError).code, code, (err as Error).message);
  if (message) assert.match((err as Error).message, message);
  return err as ReactorError;
}

/** The async form: the promise must reject with a ReactorError of this code. */
export async function rejectsCode(p: Promise<unknown> | (() => Promise<unknown>), code: string, message?: RegExp): Promise<ReactorError> {
  let err: unknown;
  try { await (typeof p === "function" ? p() : p); } catch (e) { err = e; }
  assert.ok(err !== undefined, `expected a rejection with ReactorError ${code}`);
  assert.instance(err, ReactorError, `expected a ReactorError ${code}, got ${String(err)}`);
  assert.is((err as ReactorError).code, code, (err as Error).message);
  if (message) assert.match((err as Error).message, message);
  return err as ReactorError;
}
