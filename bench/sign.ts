/**
 * Signing the way Tapemetric does it: the tests' independent signer, so the bench never uses
 * hookrelay's own code to produce the input it measures hookrelay on.
 */
export { tapemetricSignature } from '../test/support/signers.ts';

export const SIGNATURE_HEADER = 'x-tapemetric-signature';

/** One secret for the whole run; hookrelay's config and the baseline server get the same one. */
export const BENCH_SECRET = 'bench-secret-0c5f1e7a9d2b4c6e';
