package poll

import (
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reader is told when its socket is readable; buf is the loop's, valid during the call.
type Reader interface {
	OnReadable(buf []byte)
}

// Poller is one epoll set and the goroutine that waits on it. The Go runtime watches the
// same sockets for writes: a socket may sit in several epoll sets.
type Poller struct {
	epfd    int
	file    *os.File // epfd as the runtime's netpoller watches it; held, or its finalizer closes epfd
	raw     syscall.RawConn
	mu      sync.Mutex
	readers map[int]Reader
}

// BufferSize is the read buffer each loop shares among its sockets.
const BufferSize = 64 << 10

var (
	once    sync.Once
	pollers []*Poller
)

// For returns the loop that watches fd (the process has up to four, started on first
// use), or nil when epoll is not available.
func For(fd int) *Poller {
	once.Do(func() {
		for range min(runtime.GOMAXPROCS(0), 4) {
			p, err := newPoller()
			if err != nil {
				return
			}
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

// Add starts watching fd for r. r may be called before Add returns.
func (p *Poller) Add(fd int, r Reader) error {
	p.mu.Lock()
	p.readers[fd] = r
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: readEvents, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.readers, fd)
		p.mu.Unlock()
		return err
	}
	return nil
}

// Remove stops watching fd for r. Call it before the socket closes, while the number is
// still r's.
func (p *Poller) Remove(fd int, r Reader) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	p.mu.Lock()
	if p.readers[fd] == r {
		delete(p.readers, fd)
	}
	p.mu.Unlock()
}

// Pause stops reading fd (backpressure) and Resume starts again. Paused, the socket leaves
// the set: a hang-up there would be reported over and over.
func (p *Poller) Pause(fd int) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil) }

// Resume reads fd again after Pause.
func (p *Poller) Resume(fd int) {
	ev := unix.EpollEvent{Events: readEvents, Fd: int32(fd)}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// newPoller makes an epoll set that the Go runtime itself watches: the loop's goroutine
// parks in the runtime's netpoller until the set has events, instead of blocking a thread
// in epoll_wait (a thread in a system call has its processor taken away and handed back
// by the scheduler's monitor, which then keeps waking every 20 µs).
func newPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Poller{epfd: epfd, file: f, raw: raw, readers: make(map[int]Reader)}, nil
}

func (p *Poller) run() {
	buf := make([]byte, BufferSize)
	events := make([]unix.EpollEvent, 256)
	// Each call takes what is ready without waiting; false parks the goroutine until the
	// set is readable again. Level-triggered sockets that still hold data come back on
	// the next call, so the loop ends only once everything ready has been read.
	_ = p.raw.Read(func(uintptr) bool {
		for {
			n, err := unix.EpollWait(p.epfd, events, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return true
			}
			if n == 0 {
				return false
			}
			for i := range n {
				p.mu.Lock()
				r := p.readers[int(events[i].Fd)]
				p.mu.Unlock()
				if r != nil {
					r.OnReadable(buf) // data, or the end of the stream that a hang-up means
				}
			}
		}
	})
}
