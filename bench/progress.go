package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// startProgress prints a progress line to w until the returned func is called: rewritten
// in place every second on a terminal, else one line every 5 seconds (short CI logs).
func (r *run) startProgress(w io.Writer) (stop func()) {
	tty := isTerminal(w)
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprint(w, "\r\033[K"+r.progressLine())
				} else {
					fmt.Fprintln(w, r.progressLine())
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine is one line of where the run is.
func (r *run) progressLine() string {
	return fmt.Sprintf("bench %-7s %5.0fs  conns %d/%d  joined %d  sent %d  received %d  errors %d  disconnects %d",
		*r.phase.Load(), time.Since(r.base).Seconds(), r.connected.Load(), len(r.conns), r.joinedN.Load(),
		r.sent.Load(), r.received.Load(), r.errors.total(), r.disconnects.total())
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
