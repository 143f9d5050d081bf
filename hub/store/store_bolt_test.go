package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Tests of the bolt engine's own machinery: group commit, cancellation, files.

func openTestBolt(t *testing.T, opts BoltOptions) (*boltStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edgeio.db")
	s := mustOpenBolt(t, path, opts).(*boltStore)
	t.Cleanup(func() { s.Close() })
	return s, path
}

// gate holds the committer in batchHook until it is opened.
type gate struct {
	entered chan struct{}
	open    chan struct{}
}

func holdCommitter(s *boltStore) *gate {
	g := &gate{entered: make(chan struct{}, 100), open: make(chan struct{})}
	s.batchHook = func() {
		g.entered <- struct{}{}
		<-g.open
	}
	return g
}

// queued waits until n ops are waiting in the queue.
func queued(t *testing.T, s *boltStore, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(s.queue) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d ops, want %d", len(s.queue), n)
		}
	}
}

type result struct {
	m       *Message
	created bool
	err     error
}

func TestBoltBatch(t *testing.T) {
	s, path := openTestBolt(t, BoltOptions{NoSync: true})
	p, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u1", Content: "p"})
	if err != nil {
		t.Fatal(err)
	}
	g := holdCommitter(s)
	commits0, writes0 := s.commits.Load(), s.writes.Load()

	results := make([]chan result, 8)
	start := func(i int, fn func() result) {
		results[i] = make(chan result, 1)
		go func() { results[i] <- fn() }()
	}
	appendFn := func(ctx context.Context, user, content, cmid string) func() result {
		return func() result {
			m, created, err := s.Append(ctx, &Message{RoomID: "r", UserID: user, Content: content, ClientMsgID: cmid})
			return result{m, created, err}
		}
	}
	// Op 0 is taken into a first batch and held there; the rest queue up behind it.
	start(0, appendFn(bg, "u1", "a", ""))
	<-g.entered
	ctx, cancel := context.WithCancel(bg)
	start(1, appendFn(ctx, "u1", "cancelled", ""))
	queued(t, s, 1)
	cancel()
	if r := <-results[1]; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled append: %+v", r)
	}
	start(2, appendFn(bg, "u2", "c", "k"))
	queued(t, s, 2)
	ops := []func() result{
		func() result { m, err := s.Edit(bg, p.ID, "u2", "x", time.Now()); return result{m: m, err: err} },
		func() result { m, err := s.Edit(bg, p.ID, "u1", "p2", time.Now()); return result{m: m, err: err} },
		func() result { m, err := s.Delete(bg, formatID(3), "u1", time.Now()); return result{m: m, err: err} },
		appendFn(bg, "u2", "c again", "k"), // deduplicated against op 2 in the same transaction
		func() result { return result{err: s.MarkRead(bg, "r", "u3", p.ID)} },
	}
	for i, fn := range ops {
		start(3+i, fn)
		queued(t, s, 3+i)
	}
	close(g.open)

	r0, r2 := <-results[0], <-results[2]
	if r0.err != nil || r2.err != nil || !r2.created {
		t.Fatalf("appends: %+v %+v", r0, r2)
	}
	if r := <-results[3]; !errors.Is(r.err, ErrForbidden) {
		t.Fatalf("forbidden edit: %+v", r)
	}
	if r := <-results[4]; r.err != nil || r.m.Content != "p2" {
		t.Fatalf("edit: %+v", r)
	}
	if r := <-results[5]; !errors.Is(r.err, ErrNotFound) {
		t.Fatalf("delete unknown: %+v", r)
	}
	if r := <-results[6]; r.err != nil || r.created || r.m.ID != r2.m.ID {
		t.Fatalf("dedup in one batch: %+v", r)
	}
	if r := <-results[7]; r.err != nil {
		t.Fatalf("mark: %+v", r)
	}
	// Two transactions: op 0 alone, then the six others (the cancelled one skipped).
	if c, w := s.commits.Load()-commits0, s.writes.Load()-writes0; c != 2 || w != 7 {
		t.Fatalf("%d commits with %d writes, want 2 with 7", c, w)
	}
	s.Close()
	s2 := mustOpenBolt(t, path, BoltOptions{})
	defer s2.Close()
	msgs, _, _ := s2.History(bg, "r", HistoryQuery{})
	if len(msgs) != 3 || msgs[0].Content != "p2" || msgs[1].Content != "a" || msgs[2].Content != "c" {
		t.Fatalf("history after the batch: %+v", msgs)
	}
	if last, _, _ := s2.ReadState(bg, "r", "u3"); last != p.ID {
		t.Fatalf("mark: %q", last)
	}
}

func TestBoltDirtyWriteFailsAlone(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	g := holdCommitter(s)
	first := make(chan error, 1)
	go func() { _, _, err := s.Append(bg, &Message{RoomID: "r", Content: "first"}); first <- err }()
	<-g.entered
	boom := errors.New("boom")
	var runs int
	dirty := make(chan error, 1)
	go func() {
		dirty <- s.write(bg, 0, func(tx *bolt.Tx) (bool, error) {
			runs++
			if err := tx.Bucket(bktMeta).Put([]byte("junk"), []byte("1")); err != nil {
				return true, err
			}
			return true, boom
		})
	}()
	queued(t, s, 1)
	after := make(chan result, 1)
	go func() {
		m, created, err := s.Append(bg, &Message{RoomID: "r", Content: "after"})
		after <- result{m, created, err}
	}()
	queued(t, s, 2)
	close(g.open)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-dirty; !errors.Is(err, boom) || runs != 1 {
		t.Fatalf("dirty op: %v after %d runs", err, runs)
	}
	if r := <-after; r.err != nil || !r.created {
		t.Fatalf("op after the dirty one: %+v", r)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bktMeta).Get([]byte("junk")) != nil {
			t.Error("the dirty op's write was committed")
		}
		return nil
	})
	msgs, _, _ := s.History(bg, "r", HistoryQuery{})
	if len(msgs) != 2 {
		t.Fatalf("history: %d messages", len(msgs))
	}
}

func TestBoltBatchBytes(t *testing.T) {
	for _, c := range []struct {
		budget, commits int
	}{{1500, 4}, {10000, 2}} {
		s, path := openTestBolt(t, BoltOptions{NoSync: true, MaxBatchBytes: c.budget})
		g := holdCommitter(s)
		errs := make(chan error, 4)
		for i := range 4 {
			go func() {
				_, _, err := s.Append(bg, &Message{RoomID: "r", Content: strings.Repeat("z", 1000)})
				errs <- err
			}()
			if i == 0 {
				<-g.entered
			} else {
				queued(t, s, i)
			}
		}
		close(g.open)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }() // the carried op still commits
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := s.commits.Load(); got != uint64(c.commits) {
			t.Errorf("budget %d: %d commits, want %d", c.budget, got, c.commits)
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		s2 := mustOpenBolt(t, path, BoltOptions{})
		if msgs, _, _ := s2.History(bg, "r", HistoryQuery{}); len(msgs) != 4 {
			t.Fatalf("%d messages stored", len(msgs))
		}
		s2.Close()
	}
}

func TestBoltCommitterSkipsCancelled(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	o := &op{ctx: ctx, done: make(chan struct{}), apply: func(*bolt.Tx) (bool, error) {
		t.Error("a cancelled op ran")
		return false, nil
	}}
	s.queue <- o
	<-o.done
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("err = %v", o.err)
	}
}

func TestBoltCloseDrains(t *testing.T) {
	s, path := openTestBolt(t, BoltOptions{})
	var mu sync.Mutex
	var ok []string
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				m, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u"})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				ok = append(ok, m.ID)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2 := mustOpenBolt(t, path, BoltOptions{})
	defer s2.Close()
	h := &harness{t: t, s: s2}
	if got := len(walkForward(h, "r")); got != len(ok) || got == 0 {
		t.Fatalf("%d messages after reopen, %d acknowledged", got, len(ok))
	}
}

func TestBoltReopenSeedsIDs(t *testing.T) {
	s, path := openTestBolt(t, BoltOptions{NoSync: true})
	m, _, err := s.Append(bg, &Message{RoomID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Store an id a little ahead of the generator, as if written by an earlier run whose
	// clock was ahead; the reopened store must continue after it.
	ahead := ids.last.Load() + 1<<20
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		v := *m
		v.ID = formatID(ahead)
		tx.Bucket(bktRooms).Bucket([]byte("r")).Put(idKey(ahead), encodeMessage(&v))
		return tx.Bucket(bktMsgs).Put(idKey(ahead), []byte("r"))
	})
	db.Close()
	s2 := mustOpenBolt(t, path, BoltOptions{NoSync: true})
	defer s2.Close()
	n, _, err := s2.Append(bg, &Message{RoomID: "r"})
	if err != nil || n.ID <= formatID(ahead) {
		t.Fatalf("id after reopen %s, stored %s (%v)", n.ID, formatID(ahead), err)
	}
	msgs, _, _ := s2.History(bg, "r", HistoryQuery{})
	if len(msgs) != 3 || msgs[2].ID != n.ID {
		t.Fatalf("history: %+v", msgs)
	}
}

func TestBoltOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := OpenBolt(filepath.Join(file, "edgeio.db"), BoltOptions{}); err == nil {
		t.Fatal("opened a store under a file")
	}
	if _, err := OpenBolt(file, BoltOptions{}); err == nil {
		t.Fatal("opened a file that is not a bolt file")
	}

	path := filepath.Join(dir, "a", "edgeio.db")
	s := mustOpenBolt(t, path, BoltOptions{})
	begin := time.Now()
	if _, err := OpenBolt(path, BoltOptions{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second open of a locked file: %v", err)
	}
	if time.Since(begin) > 2*time.Second {
		t.Fatal("lock timeout ignored")
	}
	s.Close()

	db, _ := bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyFormat, []byte("9")) })
	db.Close()
	if _, err := OpenBolt(path, BoltOptions{}); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("opened a file of another format: %v", err)
	}
}

func TestBoltCorruptRecords(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	m, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keyOfID(m.ID)
	s.db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bktMsgs).Put(idKey(1), []byte("gone")) // indexed, but no such room
		return tx.Bucket(bktRooms).Bucket([]byte("r")).Put(key, []byte{valueFormat, 0, 200})
	})
	if _, err := s.Get(bg, m.ID); !errors.Is(err, errCorrupt) {
		t.Fatalf("Get corrupt: %v", err)
	}
	if _, err := s.Get(bg, formatID(1)); !errors.Is(err, errCorrupt) {
		t.Fatalf("Get without room: %v", err)
	}
	if _, _, err := s.History(bg, "r", HistoryQuery{}); !errors.Is(err, errCorrupt) {
		t.Fatalf("History corrupt: %v", err)
	}
	if _, _, err := s.History(bg, "r", HistoryQuery{After: formatID(0)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History: %v", err)
	}
	if _, err := s.Edit(bg, m.ID, "u", "x", time.Now()); !errors.Is(err, errCorrupt) {
		t.Fatalf("Edit corrupt: %v", err)
	}
}

func TestBoltHistoryCorruptAfter(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	a, _, _ := s.Append(bg, &Message{RoomID: "r"})
	b, _, _ := s.Append(bg, &Message{RoomID: "r"})
	key, _ := keyOfID(b.ID)
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktRooms).Bucket([]byte("r")).Put(key, []byte{1}) })
	if _, _, err := s.History(bg, "r", HistoryQuery{After: a.ID}); !errors.Is(err, errCorrupt) {
		t.Fatalf("History after: %v", err)
	}
}

func TestDecodeMessage(t *testing.T) {
	m := &Message{UserID: "u", Username: "n", Content: "héllo", ClientMsgID: "c",
		EditedAt: time.UnixMilli(5).UTC(), Deleted: true, DeletedAt: time.UnixMilli(-7).UTC(),
		Attachments: []Attachment{{URL: "https://x", Name: "a", Type: "t", Size: -1, Data: []byte{1}}, {}}}
	v := encodeMessage(m)
	key := idKey(1 << 16)
	got, err := decodeMessage("r", key, v)
	if err != nil {
		t.Fatal(err)
	}
	want := m.clone()
	want.ID, want.RoomID, want.CreatedAt = formatID(1<<16), "r", time.UnixMilli(1).UTC()
	sameMsg(t, "round trip", got, want)
	for n := range len(v) {
		if _, err := decodeMessage("r", key, v[:n]); err == nil {
			t.Fatalf("decoded a value cut at %d of %d bytes", n, len(v))
		}
	}
	for _, bad := range [][]byte{append(v[:len(v):len(v)], 0), {2, 0}, {1, 0, 0, 0, 0, 0, 0xff, 0x7f}} {
		if _, err := decodeMessage("r", key, bad); err == nil {
			t.Fatalf("decoded %x", bad)
		}
	}
	if _, err := decodeMessage("r", key[:4], v); err == nil {
		t.Fatal("decoded with a short key")
	}
	if unreadBy(nil, "u") || unreadBy(v, "x") || !unreadBy(encodeMessage(&Message{UserID: "u"}), "x") ||
		unreadBy(encodeMessage(&Message{UserID: "u"}), "u") {
		t.Fatal("unreadBy")
	}
}

// Writes arriving within CommitInterval of the last commit wait for the interval's end and
// share one commit; a writer after a quiet spell does not wait.
func TestBoltCommitInterval(t *testing.T) {
	const interval = 300 * time.Millisecond
	s, _ := openTestBolt(t, BoltOptions{NoSync: true, CommitInterval: interval})
	start := time.Now()
	if _, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "first"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > interval/2 {
		t.Fatalf("the first write after a quiet spell took %v", took)
	}
	commits0 := s.commits.Load()
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			_, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: fmt.Sprint("m", i)})
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := s.commits.Load() - commits0; c != 1 {
		t.Fatalf("5 writes within the interval took %d commits, want 1", c)
	}
	if took := time.Since(start); took < interval {
		t.Fatalf("they were committed %v after the first, before the interval ended", took)
	}
}

// A staged append is told its id before its commit; the commit waits for the interval,
// readers wait for the commit, and durable returns once it is done.
func TestBoltStagedAppend(t *testing.T) {
	const interval = 300 * time.Millisecond
	s, _ := openTestBolt(t, BoltOptions{NoSync: true, CommitInterval: interval})
	if _, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "first"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, created, durable, err := s.AppendStaged(bg, &Message{RoomID: "r", UserID: "u", Content: "staged", ClientMsgID: "c1"})
	if err != nil || !created || m.ID == "" {
		t.Fatalf("AppendStaged: %+v %v %v", m, created, err)
	}
	if took := time.Since(start); took > interval/2 {
		t.Fatalf("AppendStaged waited %v for a commit it should not wait for", took)
	}
	// a retry of the same client message id while the first is being committed
	again, created, durable2, err := s.AppendStaged(bg, &Message{RoomID: "r", UserID: "u", Content: "retry", ClientMsgID: "c1"})
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("retry: %+v %v %v", again, created, err)
	}
	// a reader that has seen the staged message finds it: it waits for the commit
	if err := s.MarkRead(bg, "r", "v", m.ID); err != nil {
		t.Fatalf("MarkRead of the staged message: %v", err)
	}
	msgs, _, err := s.History(bg, "r", HistoryQuery{})
	if err != nil || len(msgs) != 2 || msgs[1].ID != m.ID {
		t.Fatalf("history after the staged append: %+v %v", msgs, err)
	}
	if took := time.Since(start); took < interval/2 {
		t.Fatalf("the reads came back after %v, before the commit", took)
	}
	if err := durable(); err != nil {
		t.Fatal(err)
	}
	if err := durable2(); err != nil {
		t.Fatal(err)
	}
}

// An op that leaves a transaction half-written fails alone, the staged appends before it
// in the transaction fail too (their rooms have been told), and what came after it runs.
func TestBoltRollbackFailsStagedAppends(t *testing.T) {
	const interval = 200 * time.Millisecond
	s, _ := openTestBolt(t, BoltOptions{NoSync: true, CommitInterval: interval})
	if _, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "first"}); err != nil {
		t.Fatal(err)
	}
	m, _, durable, err := s.AppendStaged(bg, &Message{RoomID: "r", UserID: "u", Content: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.write(bg, 0, func(tx *bolt.Tx) (bool, error) {
		_ = tx.Bucket(bktMeta).Put([]byte("junk"), []byte("1"))
		return true, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("dirty op: %v", err)
	}
	if err := durable(); !errors.Is(err, errRolledBack) {
		t.Fatalf("the staged append before it: %v, want rolled back", err)
	}
	after, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "after"})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _, _ := s.History(bg, "r", HistoryQuery{})
	if len(msgs) != 2 || msgs[0].Content != "first" || msgs[1].ID != after.ID || msgs[1].ID == m.ID {
		t.Fatalf("history: %+v", msgs)
	}
}
