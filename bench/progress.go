package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
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

// progressLine is one line of where the run is: the phase, a bar of how far it has come,
// and the counts so far.
func (r *run) progressLine() string {
	phase := *r.phase.Load()
	return fmt.Sprintf("bench %-7s %s %5.0fs  conns %d/%d  joined %d  sent %d  received %d  errors %d  disconnects %d",
		phase, progressBar(r.phaseDone(phase)), time.Since(r.base).Seconds(), r.connected.Load(), len(r.conns),
		r.joinedN.Load(), r.sent.Load(), r.received.Load(), r.errors.total(), r.disconnects.total())
}

// phaseDone is how far the phase has come, from 0 to 1: connections made or joined, or the
// time spent of a timed phase (the drain's is its bound: it usually ends sooner).
func (r *run) phaseDone(phase string) float64 {
	of := func(n, total float64) float64 {
		if total <= 0 {
			return 1
		}
		return min(n/total, 1)
	}
	spent := float64(r.now() - r.phaseAt.Load())
	switch phase {
	case "connect":
		return of(float64(r.connected.Load()), float64(len(r.conns)))
	case "join":
		return of(float64(r.joinedN.Load()), float64(len(r.conns)))
	case "warmup":
		return of(spent, float64(r.cfg.Warmup))
	case "send", "idle":
		return of(spent, float64(r.cfg.Duration))
	case "drain":
		return of(spent, float64(r.cfg.Drain))
	case "close":
		return 1
	}
	return 0
}

// progressBar draws done (0 to 1) as [#####.....] 50%.
func progressBar(done float64) string {
	const width = 20
	n := int(done*width + 0.5)
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
