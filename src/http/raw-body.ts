import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HookrelayError } from '../errors.ts';
import { lookupTable } from '../util/objects.ts';

/**
 * Content codings a sender may use (RFC 9110 §8.4.1). Senders sign the body before they
 * compress it (as HTTP intends: the coding is a property of the transfer, not of the
 * content), so the decompressed bytes are what hookrelay verifies, parses and stores.
 * `deflate` is the zlib format (RFC 9110 §8.4.1.2); `x-gzip` is gzip's old name (§8.4.1.3).
 */
const DECODERS: Readonly<Record<string, () => Transform>> = lookupTable({
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
});

export const SUPPORTED_ENCODINGS: readonly string[] = Object.keys(DECODERS);

/** The decoder for a Content-Encoding header, null for none/identity; 415 for anything else. */
function decoderFor(header: string | undefined): Transform | null {
  const codings = (header ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0) return null;
  const [coding] = codings;
  const create = coding === undefined ? undefined : DECODERS[coding];
  if (codings.length > 1 || create === undefined) {
    throw new HookrelayError(
      'unsupported_encoding',
      `Content-Encoding "${header}" is not supported: send one of ${SUPPORTED_ENCODINGS.join(', ')}, or none`,
    );
  }
  return create();
}

function tooLarge(limit: number, what: string): HookrelayError {
  return new HookrelayError('payload_too_large', `the ${what} is larger than the ${Math.round(limit / 1024)} KB limit`);
}

/**
 * Buffers a request's body into `request.body` (a Buffer), decompressing it as it streams,
 * with `limit` bytes at most both on the wire and after decompression: a zip bomb is cut
 * off as soon as its output passes the limit, never inflated in full. A refusal answers at
 * once without reading the rest of the body, and closes the connection (the unread bytes
 * make it unusable for another request).
 */
/** A request whose body this reads (`body`: the bytes, once read): express's, or node's own. */
type BodyRequest = IncomingMessage & { body?: unknown };

export function readRawBody(options: { readonly limit: number }): (request: BodyRequest, response: ServerResponse, next: (error?: unknown) => void) => void {
  const { limit } = options;
  return (request, response, next) => {
    let decoder: Transform | null;
    try {
      decoder = decoderFor(request.headers['content-encoding']);
    } catch (error) {
      response.setHeader('Connection', 'close');
      next(error);
      return;
    }
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      response.setHeader('Connection', 'close');
      next(tooLarge(limit, 'body'));
      return;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let decoded = 0;
    let settled = false;

    const detach = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAborted);
      request.off('close', onClose);
      if (decoder !== null) {
        decoder.off('data', onDecoded);
        decoder.off('end', finish);
        // Errors after the verdict (a bomb cut off mid-block) have nowhere to go.
        decoder.on('error', () => undefined);
        decoder.destroy();
      }
    };
    const fail = (error: HookrelayError): void => {
      if (settled) return;
      settled = true;
      detach();
      request.pause();
      response.setHeader('Connection', 'close');
      next(error);
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      detach();
      request.body = Buffer.concat(chunks, decoded);
      next();
    };
    const onDecoded = (chunk: Buffer): void => {
      decoded += chunk.length;
      if (decoded > limit) fail(tooLarge(limit, decoder === null ? 'body' : 'decompressed body'));
      else chunks.push(chunk);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) fail(tooLarge(limit, 'body'));
      else if (decoder === null) onDecoded(chunk);
      else decoder.write(chunk);
    };
    const onEnd = (): void => {
      if (decoder === null) finish();
      else decoder.end();
    };
    const onAborted = (): void => fail(new HookrelayError('invalid_request', 'the request was aborted before its body arrived'));
    const onClose = (): void => {
      if (!request.complete) onAborted();
    };

    if (decoder !== null) {
      const encoding = request.headers['content-encoding'];
      decoder.on('data', onDecoded);
      decoder.on('end', finish);
      decoder.on('error', (error: Error) => {
        fail(new HookrelayError('invalid_compression', `the body is not valid ${encoding} data: ${error.message}`));
      });
    }
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onAborted);
    request.on('close', onClose);
  };
}
