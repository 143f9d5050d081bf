// A TCP balancer for tests of clients that move between nodes: it forwards each new
// connection to a node, as a load balancer would, and cuts the connections it carries as a
// network failure would.
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
