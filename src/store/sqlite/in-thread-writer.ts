import { EventEmitter } from 'node:events';
import { startWriter } from './writer.ts';
import type { WriterData, WriterMessage, WriterReply } from './protocol.ts';

/**
 * The writer on the store's own thread, speaking the writer thread's messages (SqliteStoreOptions
 * .inThread): for tests that mutation testing must see, since Stryker switches a mutant on only
 * in the test's thread. Messages are cloned as a worker's would be, and delivered a turn later.
 */
export class InThreadWriter extends EventEmitter {
  #writer: { receive(message: WriterMessage): void } | null = null;

  constructor(data: WriterData) {
    super();
    setImmediate(() => {
      try {
        this.#writer = startWriter(data, (reply) => this.#answer(reply));
      } catch (error) {
        this.emit('error', error);
      }
    });
  }

  /** Throws, as a worker's would, for what cannot be cloned (a function among the arguments). */
  postMessage(message: WriterMessage): void {
    const copy = structuredClone(message);
    setImmediate(() => this.#writer?.receive(copy));
  }

  #answer(reply: WriterReply): void {
    this.emit('message', structuredClone(reply));
    if (reply.type === 'closed') this.emit('exit', 0);
  }
}
