package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Layout of the bolt file, one top-level bucket each:
//
//	meta   "format" -> "1"
//	msgs   id key -> room id                       (Get, Edit, Delete by id; the largest id)
//	rooms  room id -> nested bucket: id key -> value (history: one cursor seek per page)
//	dedup  pairKey(user id, client msg id) -> id key
//	reads  pairKey(room id, user id) -> id key      (read watermarks)
var (
	bktMeta   = []byte("meta")
	bktMsgs   = []byte("msgs")
	bktRooms  = []byte("rooms")
	bktDedup  = []byte("dedup")
	bktReads  = []byte("reads")
	bktFollow = []byte("follow") // pairKey(user, room) -> nothing

	keyFormat = []byte("format")
	fileFmt   = []byte("1")
)

// BoltOptions tunes OpenBolt; the zero value is what production wants.
type BoltOptions struct {
	// NoSync skips fsync on commit. Tests and bulk loads only: a crash may lose or corrupt
	// recent writes.
	NoSync bool
	// MaxBatch is the most writes committed in one transaction (default 1000).
	MaxBatch int
	// MaxBatchBytes stops adding writes to a transaction once their messages add up to
	// this many bytes (default 8 MiB); a single larger write still goes through alone.
	MaxBatchBytes int
	// CommitInterval is the least time between the starts of two commits (default none):
	// a write arriving sooner after the last commit waits for the interval's end, and the
	// writes that gather meanwhile share its fsync. A lone writer after a quiet spell does
	// not wait. See bolt_commit.go.
	CommitInterval time.Duration
	// LockTimeout is how long OpenBolt waits for another process to release the file
	// (default 1s); bolt files cannot be shared between processes.
	LockTimeout time.Duration

	// dbBatch commits through bbolt's db.Batch instead of the committer goroutine. It is
	// kept only so tests and benchmarks can compare the two (see bolt_commit.go).
	dbBatch bool
}

type boltStore struct {
	db       *bolt.DB
	dbBatch  bool
	maxBatch int
	maxBytes int
	interval time.Duration

	mu      sync.RWMutex // closed and the queue's closing; held for reading while sending
	closed  bool
	queue   chan *op
	stopped chan struct{} // closed when the committer has drained the queue

	batchHook func() // tests: runs before each committer transaction commits

	commits atomic.Uint64 // committer transactions, for benchmarks
	writes  atomic.Uint64 // writes in them

	// committing is closed when the transaction being committed, which holds staged
	// appends, is durable (or failed); nil when no such commit is under way.
	committing atomic.Pointer[chan struct{}]
}

// OpenBolt opens (creating it and its parent directories if needed) the bolt file at path.
func OpenBolt(path string, opts BoltOptions) (Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 8 << 20
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
		// The free list is rebuilt at open instead of written at every commit: one page
		// less per commit, about 5% of the CPU per delivery at 400 messages a second.
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(initBolt); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.MaxBatchSize = opts.MaxBatch
	s := &boltStore{
		db:       db,
		dbBatch:  opts.dbBatch,
		maxBatch: opts.MaxBatch,
		maxBytes: opts.MaxBatchBytes,
		interval: opts.CommitInterval,
		queue:    make(chan *op, opts.MaxBatch),
		stopped:  make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// initBolt creates the buckets, checks the format and seeds the id generator with the
// largest stored id, so that new ids sort after every stored one.
func initBolt(tx *bolt.Tx) error {
	for _, name := range [][]byte{bktMeta, bktMsgs, bktRooms, bktDedup, bktReads, bktFollow} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bktMeta)
	switch f := meta.Get(keyFormat); {
	case f == nil:
		if err := meta.Put(keyFormat, fileFmt); err != nil {
			return err
		}
	case !bytes.Equal(f, fileFmt):
		return fmt.Errorf("unknown file format %q", f)
	}
	if k, _ := tx.Bucket(bktMsgs).Cursor().Last(); len(k) == 8 {
		ids.observe(binary.BigEndian.Uint64(k))
	}
	return nil
}

// view runs a read transaction, after the commit of staged appends under way, if any:
// whoever has seen a staged message (its broadcast) finds it in what it reads next.
func (s *boltStore) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c := s.committing.Load(); c != nil {
		select {
		case <-*c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// loadMessage reads the message under key, or ErrNotFound.
func loadMessage(tx *bolt.Tx, key []byte) (*Message, *bolt.Bucket, error) {
	room := tx.Bucket(bktMsgs).Get(key)
	if room == nil {
		return nil, nil, ErrNotFound
	}
	rb := tx.Bucket(bktRooms).Bucket(room)
	if rb == nil {
		return nil, nil, errCorrupt
	}
	m, err := decodeMessage(string(room), key, rb.Get(key))
	return m, rb, err
}

func (s *boltStore) Append(ctx context.Context, m *Message) (*Message, bool, error) {
	out, created, durable, err := s.AppendStaged(ctx, m)
	if err == nil {
		err = durable()
	}
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// AppendStaged returns once the message is in the transaction being committed (Staged).
func (s *boltStore) AppendStaged(ctx context.Context, m *Message) (*Message, bool, func() error, error) {
	if err := checkAppend(m); err != nil {
		return nil, false, nil, err
	}
	in := m.clone()
	room := []byte(in.RoomID)
	var dk []byte
	if in.ClientMsgID != "" {
		dk = pairKey(in.UserID, in.ClientMsgID)
	}
	var out *Message
	var created bool
	durable, err := s.writeStaged(ctx, msgSize(in), func(tx *bolt.Tx) (bool, error) {
		out, created = nil, false
		if dk != nil {
			if key := tx.Bucket(bktDedup).Get(dk); key != nil {
				old, _, err := loadMessage(tx, key)
				out = old
				return false, err
			}
		}
		rb, err := tx.Bucket(bktRooms).CreateBucketIfNotExists(room)
		if err != nil {
			return false, err // nothing written yet
		}
		v := ids.next()
		msg := *in
		msg.ID, msg.CreatedAt = formatID(v), idTime(v)
		key := idKey(v)
		if err := rb.Put(key, encodeMessage(&msg)); err != nil {
			return true, err
		}
		if err := tx.Bucket(bktMsgs).Put(key, room); err != nil {
			return true, err
		}
		if dk != nil {
			if err := tx.Bucket(bktDedup).Put(dk, key); err != nil {
				return true, err
			}
		}
		out, created = &msg, true
		return false, nil
	})
	if err != nil {
		return nil, false, nil, err
	}
	return out, created, durable, nil
}

func (s *boltStore) Get(ctx context.Context, id string) (*Message, error) {
	key, ok := keyOfID(id)
	if !ok {
		return nil, ErrNotFound
	}
	var out *Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, _, err = loadMessage(tx, key)
		return err
	})
	return out, err
}

// update applies change to message id and stores the result, in one committed write.
func (s *boltStore) update(ctx context.Context, id string, size int, change func(*Message) error) (*Message, error) {
	key, ok := keyOfID(id)
	if !ok {
		return nil, ErrNotFound
	}
	var out *Message
	err := s.write(ctx, size, func(tx *bolt.Tx) (bool, error) {
		out = nil
		m, rb, err := loadMessage(tx, key)
		if err != nil {
			return false, err
		}
		if err := change(m); err != nil {
			return false, err
		}
		if err := rb.Put(key, encodeMessage(m)); err != nil {
			return false, err // a failed Put writes nothing
		}
		out = m
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *boltStore) Edit(ctx context.Context, id, userID, content string, at time.Time) (*Message, error) {
	return s.update(ctx, id, len(content), func(m *Message) error { return m.edit(userID, content, at) })
}

func (s *boltStore) Delete(ctx context.Context, id, userID string, at time.Time) (*Message, error) {
	return s.update(ctx, id, 0, func(m *Message) error { return m.tombstone(userID, at) })
}

func (s *boltStore) History(ctx context.Context, roomID string, q HistoryQuery) ([]*Message, bool, error) {
	n := pageLimit(q.Limit)
	out := make([]*Message, 0, n)
	var more bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		page := pageBytes{max: q.MaxBytes}
		rb := tx.Bucket(bktRooms).Bucket([]byte(roomID))
		cursor := func(id string) ([]byte, error) {
			if id == "" {
				return nil, nil
			}
			key, ok := keyOfID(id)
			if !ok || rb == nil || rb.Get(key) == nil {
				return nil, ErrNotFound
			}
			return key, nil
		}
		after, err := cursor(q.After)
		if err != nil {
			return err
		}
		before, err := cursor(q.Before)
		if err != nil || rb == nil {
			return err
		}
		c := rb.Cursor()
		add := func(k, v []byte) error {
			m, err := decodeMessage(roomID, k, v)
			out = append(out, m)
			return err
		}
		if after != nil { // oldest first from after, up to before
			inRange := func(k []byte) bool { return k != nil && (before == nil || bytes.Compare(k, before) < 0) }
			c.Seek(after)
			k, v := c.Next()
			for ; inRange(k) && len(out) < n && page.fits(len(v)); k, v = c.Next() {
				if err := add(k, v); err != nil {
					return err
				}
			}
			more = inRange(k)
			return nil
		}
		var k, v []byte // newest first, from before or from the end
		if before != nil {
			c.Seek(before)
			k, v = c.Prev()
		} else {
			k, v = c.Last()
		}
		for ; k != nil && len(out) < n && page.fits(len(v)); k, v = c.Prev() {
			if err := add(k, v); err != nil {
				return err
			}
		}
		more = k != nil
		slices.Reverse(out)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

func (s *boltStore) InRoom(ctx context.Context, roomID string, ids []string) ([]string, error) {
	found := []string{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bktMsgs)
		for _, id := range ids {
			if key, ok := keyOfID(id); ok && bytes.Equal(msgs.Get(key), []byte(roomID)) && roomID != "" {
				found = append(found, id)
			}
		}
		return nil
	})
	return found, err
}

// markMoves reports whether setting the watermark under rk to key moves it forward, or
// ErrNotFound if key is not a message of roomID.
func markMoves(tx *bolt.Tx, roomID string, rk, key []byte) (bool, error) {
	rb := tx.Bucket(bktRooms).Bucket([]byte(roomID))
	if rb == nil || rb.Get(key) == nil {
		return false, ErrNotFound
	}
	return bytes.Compare(key, tx.Bucket(bktReads).Get(rk)) > 0, nil
}

func (s *boltStore) MarkRead(ctx context.Context, roomID, userID, messageID string) error {
	key, ok := keyOfID(messageID)
	if !ok {
		return ErrNotFound
	}
	rk := pairKey(roomID, userID)
	// Most receipts repeat or trail the watermark: check in a read transaction first so
	// that they cost no commit. The write checks again.
	var moves bool
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		moves, err = markMoves(tx, roomID, rk, key)
		return err
	})
	if err != nil || !moves {
		return err
	}
	return s.write(ctx, 0, func(tx *bolt.Tx) (bool, error) {
		moves, err := markMoves(tx, roomID, rk, key)
		if err != nil || !moves {
			return false, err
		}
		return false, tx.Bucket(bktReads).Put(rk, key) // a failed Put writes nothing
	})
}

func (s *boltStore) ReadState(ctx context.Context, roomID, userID string) (string, int, error) {
	var last string
	var unread int
	err := s.view(ctx, func(tx *bolt.Tx) error {
		mark := tx.Bucket(bktReads).Get(pairKey(roomID, userID))
		if mark != nil {
			last = idOfKey(mark)
		}
		rb := tx.Bucket(bktRooms).Bucket([]byte(roomID))
		if rb == nil {
			return nil
		}
		c := rb.Cursor()
		var k, v []byte
		if mark == nil {
			k, v = c.First()
		} else if k, v = c.Seek(mark); bytes.Equal(k, mark) {
			k, v = c.Next()
		}
		for ; k != nil && unread < MaxUnread; k, v = c.Next() {
			if unreadBy(v, userID) {
				unread++
			}
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	return last, unread, nil
}

// Close stops accepting writes, waits for the queued ones to commit and closes the file.
func (s *boltStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.stopped
	return s.db.Close()
}

// Follow writes only when the room is new to the user: most joins are of followed rooms.
func (s *boltStore) Follow(ctx context.Context, roomID, userID string) error {
	return s.setFollow(ctx, pairKey(userID, roomID), true)
}

func (s *boltStore) Unfollow(ctx context.Context, roomID, userID string) error {
	return s.setFollow(ctx, pairKey(userID, roomID), false)
}

func (s *boltStore) setFollow(ctx context.Context, key []byte, on bool) error {
	var same bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		same = (tx.Bucket(bktFollow).Get(key) != nil) == on
		return nil
	})
	if err != nil || same {
		return err
	}
	return s.write(ctx, 0, func(tx *bolt.Tx) (bool, error) {
		if on {
			return false, tx.Bucket(bktFollow).Put(key, []byte{})
		}
		return false, tx.Bucket(bktFollow).Delete(key)
	})
}

func (s *boltStore) Rooms(ctx context.Context, userID string) ([]string, error) {
	prefix := pairKey(userID, "")
	rooms := []string{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktFollow).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(rooms) < MaxFollowed; k, _ = c.Next() {
			rooms = append(rooms, string(k[len(prefix):]))
		}
		return nil
	})
	return rooms, err
}
