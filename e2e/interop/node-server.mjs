// A stock Node Socket.IO 4.8 server on @socket.io/redis-adapter, for the interop test
// (cluster-interop.test.mjs): it shares Redis with edgeio nodes, and each side must deliver
// the other's room broadcasts.
//
//   node interop/node-server.mjs redis://127.0.0.1:PORT
//
// Listens on a free 127.0.0.1 port and prints {"listening":PORT} once ready. A client that
// connects with the query room=NAME (or several, comma-separated) is joined to those rooms on
// the server side. No auth. A client may ask the server to broadcast through the adapter:
//   socket.emit("broadcast", { room?: string|string[], event, data }, ack)
// does io.to(room).emit(event, data) (io.emit without a room). SIGTERM closes it.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const url = process.argv[2];
if (!url) {
  console.error("usage: node node-server.mjs redis://host:port");
  process.exit(2);
}
const pub = createClient({ url });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on("error", (err) => console.error("redis:", err.message));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
io.on("connection", (socket) => {
  const rooms = String(socket.handshake.query.room || "").split(",").filter(Boolean);
  if (rooms.length) socket.join(rooms);
  socket.on("broadcast", ({ room, event, data } = {}, ack) => {
    (room ? io.to(room) : io).emit(event, data);
    if (typeof ack === "function") ack({ ok: true });
  });
});
httpServer.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: httpServer.address().port }));
});

const shutdown = async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
