package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures OpenRedis.
type RedisOptions struct {
	// Client reaches standalone Redis (*redis.Client) or Redis Cluster
	// (*redis.ClusterClient). The store does not close it. Its DialTimeout, DialerRetries,
	// ReadTimeout, WriteTimeout and MaxRetries bound how long a call waits for an
	// unreachable Redis before it fails with ErrUnavailable (go-redis's defaults add up to
	// several seconds: 5 dial attempts of up to 5 s each, 3 retries).
	Client redis.UniversalClient
	// Prefix starts every key (default "edgeio"). It may not contain '{' or '}', which
	// would change the keys' hash slots.
	Prefix string
	// HistoryCap is the most messages kept per room (0: no limit). Appending to a full
	// room deletes its oldest messages: they leave the history and are gone for good (Get,
	// Edit, Delete and MarkRead answer ErrNotFound, a resend of their clientMsgId stores a
	// new message). Trimming is exact, at most 100 messages per Append, so lowering the
	// cap shrinks a large room over its next appends.
	HistoryCap int64
}

const (
	defaultRedisPrefix = "edgeio"
	// dedupLease is how long an Append holds a user's clientMsgId while it appends the
	// message; a reservation left behind by a crashed node is taken over after it.
	dedupLease = 5 * time.Second
	// opKeyTTL is how long Redis remembers what one call of the append script did, so that
	// the client library's retry of a call whose reply was lost adds nothing.
	opKeyTTL = 30 * time.Second
	// unreadChunk is how many stream entries one unread-count script reads.
	unreadChunk = 1000
	// cleanupTimeout bounds a best-effort follow-up write of an Append (finishing or
	// releasing the clientMsgId reservation, forgetting trimmed messages).
	cleanupTimeout = time.Second
)

// redisStore is the Redis engine; see OpenRedis and redis_keys.go.
type redisStore struct {
	c     redis.UniversalClient
	keys  keyspace
	cap   int64
	lease time.Duration // dedupLease; tests shorten it

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool

	// floor is ms<<8 | seq of the newest id this store has returned from Append: a later
	// Append gets a larger id even in another room (another slot, another clock), so ids
	// of one caller's successive messages increase like those of the other engines.
	floor  atomic.Uint64
	nonce  string // random, with counter: tokens unique across processes
	tokens atomic.Uint64

	cluster bool // Redis Cluster: a script's keys share one slot

	qmu     sync.Mutex     // the batching of appends (redis_append.go)
	calling int            // calls of the append script under way
	queue   []*appendReq   // appends for the next call
	calls   sync.WaitGroup // calls made on goroutines of their own
}

// OpenRedis returns a Store kept in Redis, for several edgeio nodes sharing one history.
//
// Layout (see redis_keys.go): a stream per room holds the history in order, a hash per
// message its fields, edits and tombstone, a hash per room the read watermarks and the
// room's clientMsgId index, a hash per user the user's clientMsgId index. Message ids are
// derived from stream ids that Redis assigns under a per-slot allocator, so their string
// order is their creation order within a room whichever node wrote them. It works on
// standalone Redis and on Redis Cluster: the keys that one script touches share a hash
// slot. It needs Redis 6.2 or later (exclusive XRANGE bounds).
//
// Durability: Append and the other writes return once Redis has executed them in memory.
// How durable that is depends on Redis's persistence settings: with appendonly yes and
// appendfsync always a write is on disk before Redis answers; with appendfsync everysec
// (Redis's default for AOF) a crash of the Redis host can lose the last second; with
// persistence off, a restart of Redis loses everything. Replication is asynchronous and the
// store does not use WAIT, so a failover can lose writes the old master had acknowledged.
//
// Failures: when Redis cannot be reached in the client's timeouts (or answers LOADING,
// CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY, BUSY, OOM, MISCONF, ...), calls fail with an
// error wrapping ErrUnavailable and change nothing that a retry would not find: an Append
// retried with the same clientMsgId returns the message if the failed attempt stored it.
// The go-redis client retries commands on its own; the scripts are written so that such a
// retry cannot store a message twice or report a delete as not found.
//
// OpenRedis loads the scripts into Redis (every master of a cluster), which checks that
// Redis is reachable: an unreachable Redis gives an error wrapping ErrUnavailable.
func OpenRedis(ctx context.Context, opts RedisOptions) (Store, error) {
	if opts.Client == nil {
		return nil, errors.New("store: OpenRedis without a client")
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultRedisPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("store: redis prefix %q contains a brace", opts.Prefix)
	}
	if opts.HistoryCap < 0 {
		return nil, fmt.Errorf("store: negative redis history cap %d", opts.HistoryCap)
	}
	var nonce [6]byte
	rand.Read(nonce[:]) // cannot fail (it crashes the program instead)
	_, cluster := opts.Client.(*redis.ClusterClient)
	s := &redisStore{
		c:       opts.Client,
		keys:    keyspace{prefix: opts.Prefix},
		cap:     opts.HistoryCap,
		lease:   dedupLease,
		nonce:   hex.EncodeToString(nonce[:]),
		cluster: cluster,
	}
	slotTags() // build the table now rather than in the first call
	for _, sc := range redisScripts {
		if err := sc.Load(ctx, s.c).Err(); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	return s, nil
}

// begin starts a call: it fails on a done context or a closed store, else holds the store
// open until end is called.
func (s *redisStore) begin(ctx context.Context) (end func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Close marks the store closed after the calls in progress have returned. The client
// stays open: it belongs to the caller.
func (s *redisStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.calls.Wait() // the appends of callers that gave up (they hold no s.mu)
	return nil
}

// unavailablePrefixes are Redis error replies that mean "not now" rather than "wrong"
// (the last: a script meets a key whose slot is migrating to another cluster node).
var unavailablePrefixes = []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN",
	"READONLY", "NOREPLICAS", "BUSY", "OOM", "MISCONF", "max number of clients",
	"Script attempted to access a non local key"}

// fail maps an error of the client: the caller's context error if the context is done,
// ErrClosed for a closed client, ErrUnavailable for an unreachable or refusing Redis, and
// any other Redis error reply (a bug or foreign data under our keys) as it is.
func (s *redisStore) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range unavailablePrefixes {
			if redis.HasErrorPrefix(err, p) {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		return fmt.Errorf("store: redis: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// token returns a string no other call of any store, in any process, gets.
func (s *redisStore) token() string {
	return s.nonce + strconv.FormatUint(s.tokens.Add(1), 36)
}

// observe raises the floor to x.
func (s *redisStore) observe(x sid) {
	v := x.clock()
	for {
		cur := s.floor.Load()
		if v <= cur || s.floor.CompareAndSwap(cur, v) {
			return
		}
	}
}

// cleanup runs a best-effort follow-up write whose failure changes no answer, also after
// the caller's context has ended, within cleanupTimeout.
func (s *redisStore) cleanup(ctx context.Context, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = fn(ctx)
}

// load reads message x.
func (s *redisStore) load(ctx context.Context, x sid) (*Message, error) {
	f, err := s.c.HGetAll(ctx, s.keys.msg(x)).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return decodeFields(x, f)
}

func (s *redisStore) Get(ctx context.Context, id string) (*Message, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	x, ok := sidOfID(id)
	if !ok {
		return nil, ErrNotFound
	}
	return s.load(ctx, x)
}

func (s *redisStore) Edit(ctx context.Context, id, userID, content string, at time.Time) (*Message, error) {
	return s.change(ctx, id, scriptEdit, userID, content, stamp(at).UnixMilli())
}

func (s *redisStore) Delete(ctx context.Context, id, userID string, at time.Time) (*Message, error) {
	return s.change(ctx, id, scriptDelete, userID, stamp(at).UnixMilli(), s.token())
}

// change runs the edit or delete script on message id.
func (s *redisStore) change(ctx context.Context, id string, script *redis.Script, args ...any) (*Message, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	x, ok := sidOfID(id)
	if !ok {
		return nil, ErrNotFound
	}
	res, err := script.Run(ctx, s.c, []string{s.keys.msg(x)}, args...).Slice()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	switch code, _ := res[0].(int64); code {
	case -1:
		return nil, ErrNotFound
	case -2:
		return nil, ErrForbidden
	}
	f, err := fieldMap(res[1])
	if err != nil {
		return nil, err
	}
	return decodeFields(x, f)
}

// cursor turns a history cursor or read mark into a stream id of roomID's slot; ok is
// false when id cannot be a message of the room.
func cursor(id string, roomSlot int) (string, bool) {
	if id == "" {
		return "", true
	}
	x, ok := sidOfID(id)
	if !ok || x.slot() != roomSlot {
		return "", false
	}
	return x.String(), true
}

func (s *redisStore) History(ctx context.Context, roomID string, q HistoryQuery) ([]*Message, bool, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer end()
	slot := keySlot(roomID)
	after, ok1 := cursor(q.After, slot)
	before, ok2 := cursor(q.Before, slot)
	if !ok1 || !ok2 {
		return nil, false, ErrNotFound
	}
	limit := pageLimit(q.Limit)
	res, err := scriptHistory.Run(ctx, s.c, []string{s.keys.room(roomID, "log")},
		roomID, s.keys.msgBase(slot), after, before, limit, max(q.MaxBytes, 0)).Slice()
	if err != nil {
		return nil, false, s.fail(ctx, err)
	}
	code, _ := res[0].(int64)
	if code < 0 {
		return nil, false, ErrNotFound
	}
	msgs := make([]*Message, 0, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		v, _ := res[i].(string)
		x, ok := parseSID(v)
		if !ok {
			return nil, false, errCorrupt
		}
		f, err := fieldMap(res[i+1])
		if err != nil {
			return nil, false, err
		}
		m, err := decodeFields(x, f)
		if err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
	}
	if after == "" {
		slices.Reverse(msgs) // read newest first
	}
	return msgs, code == 1, nil
}

// InRoom asks Redis only about ids of the room's slot: an id carries its slot, and no
// other can be a message of the room.
func (s *redisStore) InRoom(ctx context.Context, roomID string, ids []string) ([]string, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	slot := keySlot(roomID)
	args := []any{roomID, s.keys.msgBase(slot)}
	byStream := make(map[string]string, len(ids)) // stream id -> the id as given
	for _, id := range ids {
		if x, ok := cursor(id, slot); ok && id != "" {
			args = append(args, x)
			byStream[x] = id
		}
	}
	found := []string{}
	if len(args) == 2 {
		return found, nil
	}
	res, err := scriptInRoom.Run(ctx, s.c, []string{s.keys.room(roomID, "log")}, args...).StringSlice()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	for _, x := range res {
		found = append(found, byStream[x])
	}
	return found, nil
}

func (s *redisStore) MarkRead(ctx context.Context, roomID, userID, messageID string) error {
	end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	slot := keySlot(roomID)
	if _, ok := cursor(messageID, slot); !ok || messageID == "" {
		return ErrNotFound
	}
	x, _ := sidOfID(messageID)
	n, err := scriptMarkRead.Run(ctx, s.c, []string{s.keys.room(roomID, "reads"), s.keys.msg(x)},
		roomID, userID, x.ms, x.low).Int64()
	if err != nil {
		return s.fail(ctx, err)
	}
	if n < 0 {
		return ErrNotFound
	}
	return nil
}

// ReadState counts in chunks of unreadChunk stream entries, one script each, reading the
// author from the stream entry and the tombstone flag from the message hash in Redis.
func (s *redisStore) ReadState(ctx context.Context, roomID, userID string) (string, int, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return "", 0, err
	}
	defer end()
	keys := []string{s.keys.room(roomID, "reads"), s.keys.room(roomID, "log")}
	base := s.keys.msgBase(keySlot(roomID))
	last, unread, start := "", 0, ""
	for first := true; ; first = false {
		res, err := scriptUnread.Run(ctx, s.c, keys, userID, start, MaxUnread-unread, unreadChunk, base).Slice()
		if err != nil {
			return "", 0, s.fail(ctx, err)
		}
		if first {
			if wm, _ := res[0].(string); wm != "" {
				x, ok := parseSID(wm)
				if !ok {
					return "", 0, errCorrupt
				}
				last = x.id()
			}
		}
		n, _ := res[1].(int64)
		unread += int(n)
		start, _ = res[2].(string)
		if start == "" || unread >= MaxUnread {
			return last, min(unread, MaxUnread), nil
		}
	}
}

func (s *redisStore) Follow(ctx context.Context, roomID, userID string) error {
	end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return s.fail(ctx, s.c.SAdd(ctx, s.keys.follows(userID), roomID).Err())
}

func (s *redisStore) Unfollow(ctx context.Context, roomID, userID string) error {
	end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return s.fail(ctx, s.c.SRem(ctx, s.keys.follows(userID), roomID).Err())
}

func (s *redisStore) Rooms(ctx context.Context, userID string) ([]string, error) {
	end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	rooms, err := s.c.SMembers(ctx, s.keys.follows(userID)).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	slices.Sort(rooms)
	return rooms[:min(len(rooms), MaxFollowed)], nil
}
