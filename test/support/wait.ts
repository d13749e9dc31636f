/**
 * How long a test waits for something that will happen (a delivery arriving, a queue draining):
 * long enough for a machine running two suites at once, and never reached when the relay works,
 * so it bounds a hang, not a speed. What a test asserts is an order or a count, never that the
 * wait was short. A test that waits this long needs a timeout above it (WAIT_MS + its own work).
 */
export const WAIT_MS = 60_000;
