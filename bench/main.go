package bench

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// Main is `edgeio bench`: it parses args, runs, and prints the report (a table, or JSON
// with --json) on stdout, with progress on stderr. SIGINT or SIGTERM cut the run short and
// still print what was measured. `edgeio bench compare REPORT.json...` compares reports.
func Main(args []string) error {
	if len(args) > 0 && args[0] == "compare" {
		return CompareMain(args[1:], os.Stdout)
	}
	cfg, err := ParseFlags(args, os.Stdout) // --help on stdout; a mistake is returned
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.Procs > 0 {
		// Beside the server on one machine, a harness scheduling on every CPU keeps waking
		// threads that take CPUs from the server it measures (docs/performance.md).
		runtime.GOMAXPROCS(cfg.Procs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.CPUProfile != "" { // to see what the harness costs beside the server it measures
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := Run(ctx, cfg, os.Stderr)
	if rep != nil {
		var werr error
		if cfg.JSON {
			werr = rep.WriteJSON(os.Stdout)
		} else {
			werr = rep.WriteTable(os.Stdout)
		}
		if err == nil {
			err = werr
		}
	}
	return err
}
