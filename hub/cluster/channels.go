package cluster

import "strings"

// nspChannel carries broadcasts to a whole namespace or to several rooms.
func (c *Cluster) nspChannel(nsp string) string { return c.opts.Key + "#" + nsp + "#" }

// roomChannel carries broadcasts to one room.
func (c *Cluster) roomChannel(nsp, room string) string {
	return c.opts.Key + "#" + nsp + "#" + room + "#"
}

// controlChannel carries heartbeats and peer messages between edgeio nodes.
func (c *Cluster) controlChannel() string { return "edgeio#" + c.opts.Key + "#nodes" }

// roomPattern is the glob pattern of the channels of every PatternRooms room ("" without).
func (c *Cluster) roomPattern() string {
	if c.opts.PatternRooms == "" || c.opts.Sharded {
		return ""
	}
	return globEscape(c.nspChannel("/")+c.opts.PatternRooms) + "*"
}

// patterned reports whether channel is received through the room pattern.
func (c *Cluster) patterned(channel string) bool {
	return c.pattern != "" && strings.HasPrefix(channel, c.nspChannel("/")+c.opts.PatternRooms)
}

// globEscape quotes the characters Redis's glob matching gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
