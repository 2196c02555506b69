// A test that cannot run here says so, and tests/run.mjs counts it as skipped, never as passed:
//
//   test("IPv6 loopback", async () => {
//     if (!haveIPv6) return skip("no IPv6 loopback on this machine");
//     ...
//   });
//
// uvu has no skip from inside a test (its test.skip() drops the name and the reason), so this
// prints one marker line; the runner pairs it with the uvu mark of the test that printed it
// ("•" passed, "✘" failed), counts a passed one as skipped and lists every reason at the end.
// Call it last, as `return skip(...)`: a test that skipped and then failed counts as failed.
// A suite whose tests all skipped is reported "skip", not "ok".

/** The marker's prefix; tests/run.mjs matches a line that starts with it (keep the two alike). */
export const SKIP_MARK = "[skip] ";

/** Marks the running test as skipped, with why (what is missing here, not what the test does). */
export function skip(reason: string): void {
  // A new line first: uvu writes its per-test marks without one.
  console.log(`\n${SKIP_MARK}${reason.replace(/\s*\n\s*/g, " ")}`);
}
