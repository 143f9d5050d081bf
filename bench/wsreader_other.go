//go:build !unix

package bench

import "net"

func (rd *wsReader) readLoop(nc net.Conn) { rd.readBlocking(nc) }
