package store

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write (Append, Edit, Delete, a MarkRead that moves the mark) becomes an op on the
// queue of one committer goroutine. The committer takes the first op, then whatever else is
// already queued (up to MaxBatch), applies them in order in one Update transaction, commits
// it with one fsync and then answers them all. MaxBatchBytes bounds a transaction's size
// when messages carry inline attachments. A lone writer pays one fsync with no wait; under
// load the ops that queue up during one commit form the next transaction, so the batch
// grows with the load.
//
// BoltOptions.CommitInterval (--commit-interval, default none) trades latency for CPU:
// commits start at most once per interval, and an op arriving sooner after the last commit
// waits for the interval's end. A commit costs a few hundred µs of CPU whatever its size
// (bbolt's two fdatasyncs and a dozen page writes, plus the Go runtime's monitor waking
// while they block). Measured at 1,000 messages a second (one at a time, as chat traffic
// comes), 100,000 deliveries: about 500 commits a second of one or two messages without
// it, 50-125 with 5ms, and 3% less server CPU in one A/B run (none in another); but at 300
// messages a second 5ms put 4ms on the median delivery, so it is off unless asked for.
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
// errors) reports dirty; the transaction is then rolled back, that op fails and the others
// run again in a new transaction. A context that ends while its op is still queued gets
// ctx.Err() and the op is skipped; once the op is in a transaction the caller waits for the
// commit, which decides the outcome.

const (
	opPending   int32 = iota
	opTaken           // in a transaction: the caller waits for the commit
	opCancelled       // the caller gave up first: skip it
)

type op struct {
	ctx   context.Context
	size  int // about how many bytes the op writes
	apply func(*bolt.Tx) (dirty bool, err error)
	state atomic.Int32
	err   error
	done  chan struct{} // closed when err is final
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
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- o:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
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

// run is the committer goroutine. It ends when Close has closed the queue and the queue is
// empty.
func (s *boltStore) run() {
	defer close(s.stopped)
	var batch []*op
	var carry *op // taken from the queue but over the byte budget of the last batch
	var last time.Time
	for {
		first := carry
		if first == nil {
			var ok bool
			if first, ok = <-s.queue; !ok {
				return
			}
		}
		if wait := time.Until(last.Add(s.interval)); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		batch, carry = s.fill(append(batch[:0], first))
		s.commit(batch)
		clear(batch)
	}
}

// fill adds to batch what is queued right now, without waiting, up to MaxBatch ops and
// MaxBatchBytes. An op that would pass the byte budget is returned as carry.
func (s *boltStore) fill(batch []*op) (_ []*op, carry *op) {
	size := batch[0].size
	for len(batch) < s.maxBatch && size < s.maxBytes {
		select {
		case o, ok := <-s.queue:
			if !ok {
				return batch, nil
			}
			if size += o.size; size > s.maxBytes {
				return batch, o
			}
			batch = append(batch, o)
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// commit applies batch in one transaction and answers its ops.
func (s *boltStore) commit(batch []*op) {
	if s.batchHook != nil {
		s.batchHook()
	}
	live := batch[:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			if o.state.CompareAndSwap(opPending, opCancelled) {
				o.err = err
				close(o.done)
			}
			continue
		}
		if o.state.CompareAndSwap(opPending, opTaken) {
			live = append(live, o)
		}
	}
	for len(live) > 0 {
		var bad *op
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, o := range live {
				var dirty bool
				if dirty, o.err = o.apply(tx); dirty {
					bad = o
					return o.err
				}
			}
			return nil
		})
		if bad != nil { // rolled back: fail bad alone, run the others again
			close(bad.done)
			live = slices.DeleteFunc(live, func(o *op) bool { return o == bad })
			continue
		}
		s.commits.Add(1)
		s.writes.Add(uint64(len(live)))
		for _, o := range live {
			if err != nil && o.err == nil {
				o.err = err
			}
			close(o.done)
		}
		return
	}
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
