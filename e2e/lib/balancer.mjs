// Load balancers for the cluster tests: a TCP one for clients that move between nodes (it
// forwards each new connection to a node, and cuts the connections it carries as a network
// failure would), and an HTTP one with no stickiness at all (each request and each
// WebSocket upgrade to the next node in turn).
import http from "node:http";
import net from "node:net";

/**
 * A TCP balancer on 127.0.0.1 that sends every new connection to `target` (a node), as a
 * load balancer would; `cut()` drops every connection it carries, as a network failure
 * would, and `to(node)` sends new connections elsewhere.
 */
export async function balancer(target) {
  const pairs = new Set();
  const srv = net.createServer((down) => {
    const up = net.connect(target.port, "127.0.0.1");
    const pair = { down, up };
    pairs.add(pair);
    const end = () => { pairs.delete(pair); down.destroy(); up.destroy(); };
    down.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const b = {
    url: `http://127.0.0.1:${srv.address().port}`,
    to(node) { target = node; },
    cut() { for (const { down, up } of pairs) { down.destroy(); up.destroy(); } },
    close() { b.cut(); srv.close(); },
  };
  return b;
}

/**
 * Sends the WebSocket upgrade `req` on `up` (a connection to a node) with `headers` (raw
 * name, value pairs) and `head` (what came after it), then joins `up` and the client's
 * `sock` both ways.
 */
export function passUpgrade(req, head, headers, up, sock) {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  up.write(text + "\r\n");
  if (head.length) up.write(head);
  up.pipe(sock);
  sock.pipe(up);
}

// Hop-by-hop headers of a request: the balancer's connection to a node is its own.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

/**
 * An HTTP balancer on 127.0.0.1 with no stickiness at all: it sends each request, and each
 * WebSocket upgrade, to the next of `nodes` in turn, whatever session it belongs to (so a
 * polling client's handshake, its POSTs and its polls each reach another node). A node that
 * refuses the connection is skipped for the next one, as a balancer's passive health check
 * does. It adds an X-Forwarded-For line naming the client and connects to the nodes from
 * `from` (for nodes started with `--trusted-proxies from`). `counts` tells how many
 * requests and upgrades went to each node (by port).
 */
export async function roundRobin(nodes, { from = "127.0.0.1" } = {}) {
  let turn = 0;
  const counts = new Map();
  const sockets = new Set();
  const next = () => nodes[turn++ % nodes.length];
  const headersFor = (req, keepUpgrade) => {
    const out = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (HOP_BY_HOP.has(name) && !(keepUpgrade && (name === "connection" || name === "upgrade"))) continue;
      out.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    return [...out, "X-Forwarded-For", req.socket.remoteAddress];
  };
  const srv = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const attempt = (tries) => {
      const node = next();
      const up = http.request({
        host: "127.0.0.1", port: node.port, localAddress: from, agent: false,
        method: req.method, path: req.url, headers: headersFor(req, false),
      }, (r) => {
        counts.set(node.port, (counts.get(node.port) || 0) + 1);
        res.writeHead(r.statusCode, r.rawHeaders.filter((_, i, h) => !HOP_BY_HOP.has((i % 2 ? h[i - 1] : h[i]).toLowerCase())));
        r.pipe(res);
        r.on("error", () => res.destroy());
      });
      up.on("error", (err) => {
        if (err.code === "ECONNREFUSED" && tries + 1 < nodes.length) return attempt(tries + 1);
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      up.end(body);
    };
    attempt(0);
  });
  srv.on("upgrade", (req, sock, head) => {
    const attempt = (tries) => {
      const node = next();
      const up = net.connect({ host: "127.0.0.1", port: node.port, localAddress: from });
      let joined = false;
      up.once("connect", () => {
        joined = true;
        counts.set(node.port, (counts.get(node.port) || 0) + 1);
        passUpgrade(req, head, headersFor(req, true), up, sock);
        const pair = { close: () => { up.destroy(); sock.destroy(); } };
        sockets.add(pair);
        const end = () => { sockets.delete(pair); pair.close(); };
        up.on("close", end);
        sock.on("close", end);
      });
      up.on("error", (err) => {
        if (!joined && err.code === "ECONNREFUSED" && tries + 1 < nodes.length) return attempt(tries + 1);
        sock.destroy();
      });
    };
    sock.on("error", () => {});
    attempt(0);
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = srv.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    close() {
      for (const p of sockets) p.close();
      srv.closeAllConnections();
      srv.close();
    },
  };
}
