package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// procSample is a process's CPU time and memory at one moment.
type procSample struct {
	CPUSeconds float64 // user + system
	RSSKB      int64   // resident set
	PeakKB     int64   // peak resident set (VmHWM); 0 when unknown
}

// add sums another process's sample into s (the nodes of a cluster).
func (s *procSample) add(o procSample) {
	s.CPUSeconds += o.CPUSeconds
	s.RSSKB += o.RSSKB
	s.PeakKB += o.PeakKB
}

// readProc samples a process from /proc; pid 0 is this process.
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procSample{}, err
	}
	var s procSample
	if s.CPUSeconds, err = parseStatCPU(stat); err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procSample{}, err
	}
	s.RSSKB = statusKB(status, "VmRSS:")
	s.PeakKB = statusKB(status, "VmHWM:")
	return s, nil
}

// parseStatCPU reads utime + stime from /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may hold spaces, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: /proc stat: %w", err)
	}
	return float64(ut+st) / clockTicks, nil
}

// statusKB reads a "Name:   123 kB" line of /proc/<pid>/status; 0 when absent.
func statusKB(status []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// hostCPU is the machine's CPU time from the first line of /proc/stat, in ticks.
type hostCPU struct {
	busy, total uint64
}

// readHostCPU reads /proc/stat; the zero value when it cannot.
func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	return parseHostCPU(b)
}

// parseHostCPU reads "cpu user nice system idle iowait irq softirq steal ...": busy is
// everything but idle and iowait.
func parseHostCPU(stat []byte) hostCPU {
	line, _, _ := bytes.Cut(stat, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return hostCPU{}
	}
	var h hostCPU
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return hostCPU{}
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		h.total += n
		if i != 3 && i != 4 {
			h.busy += n
		}
	}
	return h
}

// busyPct is the share of all CPUs that was busy between two samples.
func busyPct(a, b hostCPU) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) * 100 / float64(b.total-a.total)
}

// scrapeMetrics samples a server from its Prometheus endpoint: process_cpu_seconds_total
// and process_resident_memory_bytes (the standard process collector).
func scrapeMetrics(ctx context.Context, url, token string) (procSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return procSample{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return procSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procSample{}, fmt.Errorf("bench: %s: %s", url, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

func parseMetrics(r io.Reader) (procSample, error) {
	var s procSample
	var found int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "process_cpu_seconds_total":
			s.CPUSeconds = v
			found++
		case "process_resident_memory_bytes":
			s.RSSKB = int64(v / 1024)
			found++
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if found < 2 {
		return s, errors.New("bench: metrics lack process_cpu_seconds_total or process_resident_memory_bytes")
	}
	return s, nil
}
