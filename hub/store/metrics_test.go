package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestInstrumented: every call is timed under its op; only failures that are not the
// caller's are counted as failures.
func TestInstrumented(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := Instrumented(NewMemory(), reg)
	ctx := context.Background()

	m, _, err := s.Append(ctx, &Message{RoomID: "r", UserID: "alice", Username: "alice", Content: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Edit(ctx, m.ID, "bob", "mine now", time.Time{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("edit by another user: %v", err)
	}
	if _, _, err := s.History(ctx, "r", HistoryQuery{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	_, _, durable, err := AppendStaged(ctx, s, &Message{RoomID: "r", UserID: "alice", Username: "alice", Content: "staged"})
	if err != nil {
		t.Fatal(err)
	}
	if err := durable(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, &Message{RoomID: "r", UserID: "alice", Username: "alice", Content: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	counts, failures := gatherStore(t, reg)
	want := map[string]uint64{"append": 3, "stage": 1, "edit": 1, "history": 1, "get": 0, "delete": 0, "mark_read": 0, "read_state": 0, "follow": 0, "unfollow": 0, "rooms": 0}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("edgeio_store_seconds_count{op=%q} = %d, want %d", op, counts[op], n)
		}
	}
	if failures["append"] != 1 || failures["edit"] != 0 {
		t.Errorf("failures %v: want append 1 (closed), edit 0 (forbidden is the caller's)", failures)
	}
}

// gatherStore reads the sample counts of edgeio_store_seconds and the values of
// edgeio_store_failures_total by op.
func gatherStore(t *testing.T, reg *prometheus.Registry) (counts map[string]uint64, failures map[string]float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, failures = map[string]uint64{}, map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			op := m.GetLabel()[0].GetValue()
			switch f.GetName() {
			case "edgeio_store_seconds":
				counts[op] = m.GetHistogram().GetSampleCount()
			case "edgeio_store_failures_total":
				failures[op] = m.GetCounter().GetValue()
			}
		}
	}
	if len(counts) != int(numOps) || len(failures) != int(numOps) {
		t.Fatalf("ops exported: %v %v, want all %d from the start", counts, failures, numOps)
	}
	return counts, failures
}
