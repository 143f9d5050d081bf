//go:build !linux

package engine

import "errors"

// poller is Linux's epoll set; elsewhere every WebSocket has a reader goroutine.
type poller struct{}

func pollerFor(int) *poller                { return nil }
func (p *poller) add(*wsConn) error        { return errNoPoller }
func (p *poller) remove(*wsConn)           {}
func (p *poller) setReading(*wsConn, bool) {}

var errNoPoller = errors.New("no poller on this system")
