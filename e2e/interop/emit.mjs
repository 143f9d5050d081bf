// Publishes broadcasts with the stock @socket.io/redis-emitter, as a Node backend would, for
// the interop test (cluster-interop.test.mjs).
//
//   node interop/emit.mjs redis://127.0.0.1:PORT '[{"to":"room-x","event":"announcement","data":{...}}, ...]'
//   node interop/emit.mjs redis://127.0.0.1:PORT        (then one JSON array of operations a line
//                                                        on stdin; "done N" on stdout after each)
//
// Each operation: { to?: room|rooms, except?: room|rooms, event, data?, binary?: true }
// (binary: data is a base64 string sent as a Buffer). Without `to` it is emitter.emit(...) to
// everyone. A batch counts as done once Redis has answered every PUBLISH in it.
import { createInterface } from "node:readline";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const [url, opsJson] = process.argv.slice(2);
if (!url) {
  console.error("usage: node emit.mjs redis://host:port ['<json operations>']");
  process.exit(2);
}
const client = createClient({ url });
client.on("error", (err) => console.error("redis:", err.message));
await client.connect();
const emitter = new Emitter(client);

async function run(ops) {
  for (const op of ops) {
    let target = emitter;
    if (op.to) target = target.to(op.to);
    if (op.except) target = target.except(op.except);
    const data = op.binary ? Buffer.from(op.data, "base64") : op.data;
    if (data === undefined) target.emit(op.event);
    else target.emit(op.event, data);
  }
  await client.ping(); // answered after the PUBLISHes queued before it
}

if (opsJson) {
  await run(JSON.parse(opsJson));
  await client.quit();
} else {
  let n = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    await run(JSON.parse(line));
    process.stdout.write(`done ${++n}\n`);
  }
  await client.quit();
}
