/**
 * The drain phase's baseline: a bare undici client in its own process posting the bodies
 * hookrelay delivered (read from a JSON file) to the same loopback receiver, `connections`
 * requests in flight at once over an Agent of as many connections, which is what an
 * `http` destination with `concurrency: N` can at best do. No store, no template, no
 * retry bookkeeping: hookrelay's deliveries/s divided by this is the cost of delivering
 * durably.
 *
 * Run as a child: `node bench/drain-client.ts <url> <bodies.json> <connections> [passes]`; posts
 * the bodies `passes` times (default 1). Before each pass it prints `ready` and waits for a line
 * on stdin (so its parent can read the receiver's CPU time at the pass's start); after each it
 * prints one JSON line `{ delivered, failed, ms, cpuUs, allocatedBytes }` (ms from the first request to
 * the last answer, cpuUs its own CPU time by thread name meanwhile, allocatedBytes what its main
 * thread allocated meanwhile). The first pass runs in a cold
 * process; the later ones are warm, as a running hookrelay's sends are.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { startAllocationMeter } from '../test/support/allocation.ts';
import { cpuSpentUs, threadTimes } from './cpu-time.ts';

const [url, bodiesFile, connectionsText, passesText = '1'] = process.argv.slice(2);
const connections = Number(connectionsText);
const passes = Number(passesText);
if (!url || !bodiesFile || !Number.isInteger(connections) || connections <= 0 || !Number.isInteger(passes) || passes <= 0) {
  console.error('usage: node bench/drain-client.ts <url> <bodies.json> <connections> [passes]');
  process.exit(2);
}

const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8')) as string[];
const dispatcher = new Agent({ connections, keepAliveTimeout: 60_000 });
const input = createInterface({ input: process.stdin });
const meter = startAllocationMeter();
const lines = input[Symbol.asyncIterator]();
let next = 0;
let delivered = 0;
let failed = 0;

async function worker(): Promise<void> {
  for (let index = next++; index < bodies.length; index = next++) {
    const response = await request(url!, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body: bodies[index],
    });
    await response.body.dump();
    if (response.statusCode >= 200 && response.statusCode < 300) delivered += 1;
    else failed += 1;
  }
}

for (let pass = 0; pass < passes; pass += 1) {
  next = 0;
  delivered = 0;
  failed = 0;
  console.log('ready');
  if ((await lines.next()).done) process.exit(1);
  const before = threadTimes(process.pid);
  const allocatedBefore = meter.read();
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(connections, bodies.length) }, () => worker()));
  const ms = performance.now() - started;
  const after = threadTimes(process.pid);
  const allocatedBytes = meter.read() - allocatedBefore;
  console.log(JSON.stringify({ delivered, failed, ms, cpuUs: before && after ? cpuSpentUs(before, after) : null, allocatedBytes }));
}
await dispatcher.close();
input.close();
