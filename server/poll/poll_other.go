//go:build !linux

package poll

// Reader is told when its socket is readable; buf is the loop's, valid during the call.
type Reader interface {
	OnReadable(buf []byte)
}

// Poller is Linux's epoll loop; elsewhere there is none and For returns nil.
type Poller struct{}

// BufferSize is the read buffer each loop shares among its sockets.
const BufferSize = 64 << 10

// For returns nil: no loops on this system.
func For(int) *Poller { return nil }

func (p *Poller) Add(int, Reader) error { return nil }
func (p *Poller) Remove(int, Reader)    {}
func (p *Poller) Pause(int)             {}
func (p *Poller) Resume(int)            {}
