package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 250 and stime 50 ticks are 3 s.
	stat := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000 200"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3 {
		t.Fatalf("cpu %v, %v", cpu, err)
	}
	for _, bad := range []string{"no paren", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x y 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	status := []byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n")
	if statusKB(status, "VmRSS:") != 1024 || statusKB(status, "VmHWM:") != 2048 || statusKB(status, "VmSwap:") != 0 {
		t.Fatal("statusKB")
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(0)
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if s.RSSKB <= 0 || s.PeakKB < s.RSSKB {
		t.Fatalf("self %+v", s)
	}
	if p, err := readProc(os.Getpid()); err != nil || p.RSSKB <= 0 {
		t.Fatalf("pid: %+v %v", p, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Fatal("no such process, no error")
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 4.25\n" +
		"go_goroutines 12\nprocess_resident_memory_bytes 2.097152e+06\nbad line\n"
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil || s.CPUSeconds != 4.25 || s.RSSKB != 2048 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines 1\n")); err == nil {
		t.Fatal("metrics without process_* accepted")
	}
}

func TestHostCPU(t *testing.T) {
	a := parseHostCPU([]byte("cpu  100 0 50 800 50 0 0 0 7 0\ncpu0 1 2 3 4 5\n"))
	if a != (hostCPU{busy: 150, total: 1000}) {
		t.Fatalf("%+v", a)
	}
	b := parseHostCPU([]byte("cpu  200 0 100 850 50 0 0 0 0 0\n"))
	if p := busyPct(a, b); p != 75 {
		t.Fatalf("busy %v%%", p)
	}
	if busyPct(b, a) != 0 || parseHostCPU([]byte("intr 1 2")) != (hostCPU{}) || parseHostCPU([]byte("cpu 1 x 3 4 5")) != (hostCPU{}) {
		t.Fatal("bad input")
	}
	if h := readHostCPU(); h.total == 0 {
		t.Skip("no /proc/stat")
	}
}
