package cluster

// nspChannel carries broadcasts to a whole namespace or to several rooms.
func (c *Cluster) nspChannel(nsp string) string { return c.opts.Key + "#" + nsp + "#" }

// roomChannel carries broadcasts to one room.
func (c *Cluster) roomChannel(nsp, room string) string {
	return c.opts.Key + "#" + nsp + "#" + room + "#"
}

// controlChannel carries heartbeats and peer messages between edgeio nodes.
func (c *Cluster) controlChannel() string { return "edgeio#" + c.opts.Key + "#nodes" }
