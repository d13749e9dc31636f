import type { ServerResponse } from 'node:http';

/**
 * What `response.status(status).json(body)` sends, the same headers byte for byte (express's
 * `json` and `send`, with ETag off), without what they do on the way: settings looked up,
 * the content type parsed and written again to add its charset, freshness checked. Every
 * webhook's answer goes through here.
 */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(text);
}
