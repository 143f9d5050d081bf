package store

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented returns s with every call timed into reg's edgeio_store_seconds{op}, and
// every failure that is not the caller's (anything but ErrNotFound, ErrForbidden and
// ErrInvalid) counted in edgeio_store_failures_total{op}. The ops: append, get, edit,
// delete, history, in_room, mark_read, read_state, follow, unfollow, rooms, and stage: how long a staged append took to be
// in its transaction (AppendStaged), which is what holds its broadcast back.
func Instrumented(s Store, reg prometheus.Registerer) Store {
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "edgeio_store_seconds",
		Help:    "Message store calls, by operation: how long they took (a write includes its fsync or its Redis round trip).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"op"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeio_store_failures_total",
		Help: "Message store calls that failed for a reason other than the request (unavailable, closed, timed out, internal).",
	}, []string{"op"})
	reg.MustRegister(seconds, failures)
	i := &instrumented{Store: s}
	for op, name := range opNames {
		// created up front so that every op shows from the first scrape, and looked up once
		i.ops[op] = opMetrics{seconds.WithLabelValues(name), failures.WithLabelValues(name)}
	}
	return i
}

type storeOp int

const (
	opAppend storeOp = iota
	opGet
	opEdit
	opDelete
	opHistory
	opMarkRead
	opReadState
	opStage
	opFollow
	opUnfollow
	opRooms
	opInRoom
	numOps
)

var opNames = [numOps]string{"append", "get", "edit", "delete", "history", "mark_read", "read_state", "stage", "follow", "unfollow", "rooms", "in_room"}

type opMetrics struct {
	seconds  prometheus.Observer
	failures prometheus.Counter
}

type instrumented struct {
	Store
	ops [numOps]opMetrics
}

func (i *instrumented) observe(op storeOp, started time.Time, err error) {
	m := &i.ops[op]
	m.seconds.Observe(time.Since(started).Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrInvalid) {
		m.failures.Inc()
	}
}

func (i *instrumented) Append(ctx context.Context, m *Message) (*Message, bool, error) {
	started := time.Now()
	stored, created, err := i.Store.Append(ctx, m)
	i.observe(opAppend, started, err)
	return stored, created, err
}

// AppendStaged times an append until it is durable, as Append, and until it was staged.
func (i *instrumented) AppendStaged(ctx context.Context, m *Message) (*Message, bool, func() error, error) {
	started := time.Now()
	stored, created, durable, err := AppendStaged(ctx, i.Store, m)
	i.observe(opStage, started, err)
	if err != nil {
		i.observe(opAppend, started, err)
		return nil, false, nil, err
	}
	return stored, created, func() error {
		err := durable()
		i.observe(opAppend, started, err)
		return err
	}, nil
}

func (i *instrumented) Get(ctx context.Context, id string) (*Message, error) {
	started := time.Now()
	m, err := i.Store.Get(ctx, id)
	i.observe(opGet, started, err)
	return m, err
}

func (i *instrumented) Edit(ctx context.Context, id, userID, content string, at time.Time) (*Message, error) {
	started := time.Now()
	m, err := i.Store.Edit(ctx, id, userID, content, at)
	i.observe(opEdit, started, err)
	return m, err
}

func (i *instrumented) Delete(ctx context.Context, id, userID string, at time.Time) (*Message, error) {
	started := time.Now()
	m, err := i.Store.Delete(ctx, id, userID, at)
	i.observe(opDelete, started, err)
	return m, err
}

func (i *instrumented) History(ctx context.Context, roomID string, q HistoryQuery) ([]*Message, bool, error) {
	started := time.Now()
	msgs, more, err := i.Store.History(ctx, roomID, q)
	i.observe(opHistory, started, err)
	return msgs, more, err
}

func (i *instrumented) InRoom(ctx context.Context, roomID string, ids []string) ([]string, error) {
	started := time.Now()
	found, err := i.Store.InRoom(ctx, roomID, ids)
	i.observe(opInRoom, started, err)
	return found, err
}

func (i *instrumented) MarkRead(ctx context.Context, roomID, userID, messageID string) error {
	started := time.Now()
	err := i.Store.MarkRead(ctx, roomID, userID, messageID)
	i.observe(opMarkRead, started, err)
	return err
}

func (i *instrumented) ReadState(ctx context.Context, roomID, userID string) (string, int, error) {
	started := time.Now()
	last, unread, err := i.Store.ReadState(ctx, roomID, userID)
	i.observe(opReadState, started, err)
	return last, unread, err
}

func (i *instrumented) Follow(ctx context.Context, roomID, userID string) error {
	started := time.Now()
	err := i.Store.Follow(ctx, roomID, userID)
	i.observe(opFollow, started, err)
	return err
}

func (i *instrumented) Unfollow(ctx context.Context, roomID, userID string) error {
	started := time.Now()
	err := i.Store.Unfollow(ctx, roomID, userID)
	i.observe(opUnfollow, started, err)
	return err
}

func (i *instrumented) Rooms(ctx context.Context, userID string) ([]string, error) {
	started := time.Now()
	rooms, err := i.Store.Rooms(ctx, userID)
	i.observe(opRooms, started, err)
	return rooms, err
}
