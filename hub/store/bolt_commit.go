package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write (Append, Edit, Delete, a MarkRead that moves the mark) becomes an op on the
// queue of one committer goroutine. The committer takes the first op and whatever else is
// already queued (up to MaxBatch), applies them in order in one write transaction and, until
// CommitInterval has passed since the last commit began, applies the ops that arrive
// meanwhile too; then it commits with one fsync and answers them all. MaxBatchBytes bounds a
// transaction's size when messages carry inline attachments. A lone writer after a quiet
// spell pays one fsync with no wait; under load the batch grows with the load.
//
// A staged append (AppendStaged, the Staged interface) is told its outcome as soon as it
// has been applied: then only the commit can fail it, and the hub broadcasts the message
// while the interval runs out and the fsync is done; the ack waits for the commit. Readers
// (view) wait for a commit that holds staged appends, so whoever saw a staged message
// finds it in what it reads next.
//
// BoltOptions.CommitInterval (--commit-interval, 5ms in the binary) trades ack latency for
// CPU. A commit costs a few hundred µs of CPU here whatever its size (bbolt's two
// fdatasyncs and a few page writes, plus the Go runtime's monitor waking while they block):
// at 400 messages a second, 40,000 deliveries, fsync took CPU per delivery from 14.2-14.8
// µs (without fsync) to 19.0-20.4 µs, and 5ms brought it back to 16.6-17.7 µs for 3 ms more
// on the median ack (docs/performance.md).
//
// Ids are assigned inside the transaction by the single committer, so a committed message
// never has a smaller id than one committed before it: a reader paging forward with After
// never misses a message that lands late.
//
// bbolt's db.Batch (BoltOptions.dbBatch, kept for the comparison in bench_test.go) starts
// a transaction when MaxBatchDelay (10ms) has passed since the first call or MaxBatchSize
// calls are waiting. A lone writer therefore waits the delay plus the fsync, and under load
// batches are cut by the timer rather than by the disk. It also rolls back a whole batch and
// reruns the rest whenever one function returns an error, so expected errors (not the
// author) have to be carried out of band. Measured with real fsync on this project's
// 2-core shared VM (BenchmarkAppendBolt, fsync about 0.45ms at the time), acks/s:
//
//	senders     1       16      256
//	committer   2,100   10,900  95,000   (1, 8 and 128 messages per commit)
//	db.Batch    88      1,370   16,000
//
// hence the committer.
//
// An op fails alone: ops check everything before their first write, so an expected error
// leaves nothing behind. An op that fails after writing (which bbolt only does on internal
// errors) reports dirty; the transaction is then rolled back and that op fails; the staged
// appends applied before it fail too (their rooms have been told of them: the hub withdraws
// them), and the other ops before it run again in a new transaction. A context that ends while its op is still queued gets
// ctx.Err() and the op is skipped; once the op is in a transaction the caller waits for the
// commit, which decides the outcome.

const (
	opPending   int32 = iota
	opTaken           // in a transaction: the caller waits for the commit
	opCancelled       // the caller gave up first: skip it
)

type op struct {
	ctx    context.Context
	size   int // about how many bytes the op writes
	apply  func(*bolt.Tx) (dirty bool, err error)
	state  atomic.Int32
	err    error
	staged chan struct{} // writeStaged: closed once applied, with only the commit left
	done   chan struct{} // closed when err is final
}

// write runs apply in a committed transaction (see above) and returns its error.
func (s *boltStore) write(ctx context.Context, size int, apply func(*bolt.Tx) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.dbBatch {
		return s.writeDBBatch(ctx, apply)
	}
	o := &op{ctx: ctx, size: size, apply: apply, done: make(chan struct{})}
	if err := s.enqueue(o); err != nil {
		return err
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opPending, opCancelled) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

// writeStaged is write that returns as soon as apply has run in a transaction that
// nothing but its commit can fail; durable then waits for the commit (Staged).
func (s *boltStore) writeStaged(ctx context.Context, size int, apply func(*bolt.Tx) (bool, error)) (durable func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.dbBatch {
		return noWait, s.writeDBBatch(ctx, apply)
	}
	o := &op{ctx: ctx, size: size, apply: apply, staged: make(chan struct{}), done: make(chan struct{})}
	if err := s.enqueue(o); err != nil {
		return nil, err
	}
	durable = func() error {
		<-o.done
		return o.err
	}
	select {
	case <-o.staged:
		return durable, nil
	case <-o.done: // failed, or committed before this caller looked
		return durable, o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opPending, opCancelled) {
			return nil, ctx.Err()
		}
	}
	select { // taken into a transaction: its commit decides
	case <-o.staged:
		return durable, nil
	case <-o.done:
		return durable, o.err
	}
}

// enqueue hands o to the committer.
func (s *boltStore) enqueue(o *op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- o:
		return nil
	case <-o.ctx.Done():
		return o.ctx.Err()
	}
}

// run is the committer goroutine. It ends when Close has closed the queue and the queue is
// empty.
func (s *boltStore) run() {
	defer close(s.stopped)
	var carry []*op // taken from the queue, for the next transaction first
	var last time.Time
	for {
		if len(carry) == 0 {
			o, ok := <-s.queue
			if !ok {
				return
			}
			carry = []*op{o}
		}
		carry, last = s.transaction(carry, last.Add(s.interval))
	}
}

// errRolledBack fails the staged appends of a transaction that an internal error in a
// later op rolled back: their rooms were shown them, so they are not run again.
var errRolledBack = errors.New("store: the transaction was rolled back")

// transaction commits ops, what is queued already and, until `until`, what the queue
// brings meanwhile (up to MaxBatch ops and MaxBatchBytes) in one transaction with one
// fsync. Each op is applied as soon as it is in: a staged append is told at once and
// never waits for the interval; only its commit does. It returns the ops taken but left
// for the next transaction (over the byte budget, or to run again after a rollback) and
// when the commit began.
func (s *boltStore) transaction(ops []*op, until time.Time) (carry []*op, began time.Time) {
	ops, carry = s.fill(ops)
	if s.batchHook != nil {
		s.batchHook()
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		for _, o := range ops {
			if s.take(o) {
				o.err = err
				close(o.done)
			}
		}
		return carry, time.Now()
	}
	var applied []*op
	var committed chan struct{} // closed after the commit, when it holds staged ops
	apply := func(o *op) (dirty bool) {
		if dirty, o.err = o.apply(tx); dirty {
			return true
		}
		applied = append(applied, o)
		if o.staged != nil && o.err == nil {
			if committed == nil {
				committed = make(chan struct{})
				s.committing.Store(&committed) // before anyone hears of the message
			}
			close(o.staged)
		}
		return false
	}
	size := 0
	for i, o := range ops {
		size += o.size
		if s.take(o) && apply(o) {
			return append(append(s.rollBack(tx, applied, o, committed), ops[i+1:]...), carry...), time.Now()
		}
	}
	for len(carry) == 0 && len(applied) < s.maxBatch && size < s.maxBytes {
		o := s.arriving(until)
		if o == nil {
			break
		}
		if !s.take(o) {
			continue
		}
		if size += o.size; size > s.maxBytes && len(applied) > 0 {
			carry = []*op{o}
			break
		}
		if apply(o) {
			return s.rollBack(tx, applied, o, committed), time.Now()
		}
	}
	return carry, s.finish(tx, applied, committed)
}

// fill adds to ops what is queued right now, without waiting, up to MaxBatch ops and
// MaxBatchBytes; an op that would pass the byte budget is returned as carry.
func (s *boltStore) fill(ops []*op) (_ []*op, carry []*op) {
	size := 0
	for _, o := range ops {
		size += o.size
	}
	for len(ops) < s.maxBatch && size < s.maxBytes {
		select {
		case o, ok := <-s.queue:
			if !ok {
				return ops, nil
			}
			if size += o.size; size > s.maxBytes {
				return ops, []*op{o}
			}
			ops = append(ops, o)
		default:
			return ops, nil
		}
	}
	return ops, nil
}

// arriving waits until `until` for the next queued op; nil when none came in time, or
// the queue is closed.
func (s *boltStore) arriving(until time.Time) *op {
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o := <-s.queue:
		return o
	case <-t.C:
		return nil
	}
}

// take claims o for a transaction; a caller that gave up first gets its context's error
// and the op is skipped. An op taken before (run again after a rollback) stays taken.
func (s *boltStore) take(o *op) bool {
	if o.state.Load() == opTaken {
		return true
	}
	if err := o.ctx.Err(); err != nil {
		if o.state.CompareAndSwap(opPending, opCancelled) {
			o.err = err
			close(o.done)
		}
		return false
	}
	return o.state.CompareAndSwap(opPending, opTaken)
}

// finish commits tx (or drops it when nothing was applied) and answers the applied ops.
func (s *boltStore) finish(tx *bolt.Tx, applied []*op, committed chan struct{}) (began time.Time) {
	if s.batchHook != nil {
		s.batchHook()
	}
	began = time.Now()
	if len(applied) == 0 {
		_ = tx.Rollback()
		return began
	}
	err := tx.Commit()
	if committed != nil {
		s.committing.Store(nil)
		close(committed)
	}
	s.commits.Add(1)
	s.writes.Add(uint64(len(applied)))
	for _, o := range applied {
		if err != nil && o.err == nil {
			o.err = err
		}
		close(o.done)
	}
	return began
}

// rollBack drops a transaction that bad left half-written: bad fails alone with its
// error, the staged appends before it fail (their rooms were shown them), and the other
// ops before it are returned to run again.
func (s *boltStore) rollBack(tx *bolt.Tx, applied []*op, bad *op, committed chan struct{}) (again []*op) {
	_ = tx.Rollback()
	close(bad.done)
	for _, o := range applied {
		if o.staged != nil && o.err == nil {
			o.err = errRolledBack
			close(o.done)
			continue
		}
		o.err = nil
		again = append(again, o)
	}
	if committed != nil {
		s.committing.Store(nil)
		close(committed)
	}
	return again
}

// writeDBBatch is write through bbolt's db.Batch, for comparison only.
func (s *boltStore) writeDBBatch(ctx context.Context, apply func(*bolt.Tx) (bool, error)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var opErr error
	err := s.db.Batch(func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		dirty, err := apply(tx)
		if dirty {
			return err
		}
		opErr = err // expected errors wrote nothing: keep the batch
		return nil
	})
	if err != nil {
		return err
	}
	return opErr
}
