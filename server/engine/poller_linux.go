package engine

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// A poller watches many WebSocket connections with one epoll instance and one goroutine,
// instead of a reader goroutine (and its stack and buffer) per connection. The Go runtime
// watches the same sockets for writes; a socket may sit in several epoll sets.
type poller struct {
	epfd  int
	mu    sync.Mutex
	conns map[int]*wsConn
}

const pollerReadBuffer = 64 << 10

var (
	pollersOnce sync.Once
	pollers     []*poller
)

// pollerFor returns the poller that watches fd, nil when epoll is not available.
func pollerFor(fd int) *poller {
	pollersOnce.Do(func() {
		for range min(runtime.GOMAXPROCS(0), 4) {
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				return
			}
			p := &poller{epfd: epfd, conns: make(map[int]*wsConn)}
			pollers = append(pollers, p)
			go p.run()
		}
	})
	if len(pollers) == 0 {
		return nil
	}
	return pollers[fd%len(pollers)]
}

const readEvents = unix.EPOLLIN | unix.EPOLLRDHUP

func (p *poller) add(wc *wsConn) error {
	p.mu.Lock()
	p.conns[wc.fd] = wc
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: readEvents, Fd: int32(wc.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, wc.fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, wc.fd)
		p.mu.Unlock()
		return err
	}
	return nil
}

// remove stops watching wc; it runs before wc's socket closes, so its number is not reused yet.
func (p *poller) remove(wc *wsConn) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, wc.fd, nil)
	p.mu.Lock()
	if p.conns[wc.fd] == wc {
		delete(p.conns, wc.fd)
	}
	p.mu.Unlock()
}

// setReading turns reading wc off or back on (backpressure on a client whose messages pile
// up). Off, the socket leaves the epoll set: a hang-up there would be reported over and over.
func (p *poller) setReading(wc *wsConn, on bool) {
	if wc.closed.Load() {
		return
	}
	if !on {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, wc.fd, nil)
		return
	}
	ev := unix.EpollEvent{Events: readEvents, Fd: int32(wc.fd)}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, wc.fd, &ev)
}

func (p *poller) run() {
	buf := make([]byte, pollerReadBuffer)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for i := range n {
			p.mu.Lock()
			wc := p.conns[int(events[i].Fd)]
			p.mu.Unlock()
			if wc != nil {
				wc.onReadable(buf) // data, or the end of the stream that a hang-up means
			}
		}
	}
}
