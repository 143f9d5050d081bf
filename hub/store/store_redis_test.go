package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgeio/hub/internal/redistest"

	"github.com/redis/go-redis/v9"
)

// The Redis engine runs the shared suite against real redis-server processes that the
// tests start on loopback ports: one standalone server, and a three-master Redis Cluster.
// Without redis-server installed the tests skip, unless CI is set.

// redisSetup is one Redis deployment under test: how to get a client and how to empty it.
type redisSetup struct {
	client func() redis.UniversalClient
	flush  func(t testing.TB)
}

func standalone(t testing.TB) (*redistest.Server, redisSetup) {
	r := redistest.Start(t)
	return r, redisSetup{
		client: func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: r.Addr()}) },
		flush: func(t testing.TB) {
			c := redis.NewClient(&redis.Options{Addr: r.Addr()})
			defer c.Close()
			if err := c.FlushAll(bg).Err(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// startCluster starts a three-master Redis Cluster.
func startCluster(t testing.TB) ([]*redistest.Server, redisSetup) {
	nodes, addrs := redistest.StartCluster(t)
	newClient := func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) }
	return nodes, redisSetup{
		client: newClient,
		flush: func(t testing.TB) {
			c := newClient().(*redis.ClusterClient)
			defer c.Close()
			err := c.ForEachMaster(bg, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

// engine returns the suite harness of a Redis deployment: every case starts from an empty
// Redis, and h.reopen closes the store and opens a new one on a new client, as a restarted
// node would.
func (rs redisSetup) engine(opts RedisOptions) func(t *testing.T) *harness {
	return func(t *testing.T) *harness {
		rs.flush(t)
		h := &harness{t: t}
		h.s = rs.open(t, opts)
		h.reopen = func() {
			if err := h.s.Close(); err != nil {
				t.Fatal(err)
			}
			h.s = rs.open(t, opts)
		}
		t.Cleanup(func() { h.s.Close() })
		return h
	}
}

func (rs redisSetup) open(t testing.TB, opts RedisOptions) *redisStore {
	t.Helper()
	c := rs.client()
	t.Cleanup(func() { c.Close() })
	opts.Client = c
	s, err := OpenRedis(bg, opts)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	return s.(*redisStore)
}

func runSuite(t *testing.T, open func(t *testing.T) *harness) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(open(t)) })
	}
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	runSuite(t, rs.engine(RedisOptions{}))
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	nodes, rs := startCluster(t)
	// The engine's slot function agrees with the cluster's for every tag and some names.
	c := redis.NewClient(&redis.Options{Addr: nodes[0].Addr()})
	defer c.Close()
	pipe := c.Pipeline()
	names := append(slices.Clone(slotTags()), "lobby", "user:42", "{x}", "")
	cmds := make([]*redis.IntCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.ClusterKeySlot(bg, "k{"+n+"}")
	}
	if _, err := pipe.Exec(bg); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		want := keySlot(n)
		if n == "" || n == "{x}" { // "k{}" has no tag (the whole key counts); "k{{x}}" hashes "{x"
			want = keySlot(map[string]string{"": "k{}", "{x}": "{x"}[n])
		}
		if got := int(cmds[i].Val()); got != want {
			t.Fatalf("slot of %q: redis %d, engine %d", n, got, want)
		}
	}

	runSuite(t, rs.engine(RedisOptions{HistoryCap: 1 << 20}))

	// The rooms of the suite live on different masters: one script per slot, no CROSSSLOT.
	rs.flush(t)
	s := rs.open(t, RedisOptions{})
	owners := map[string]bool{}
	cc := s.c.(*redis.ClusterClient)
	for i := range 40 {
		room := fmt.Sprint("room-", i)
		m, _, err := s.Append(bg, &Message{RoomID: room, UserID: "u", ClientMsgID: room, Content: "x"})
		if err != nil {
			t.Fatal(err)
		}
		node, err := cc.MasterForKey(bg, s.keys.room(room, "log"))
		if err != nil {
			t.Fatal(err)
		}
		owners[node.Options().Addr] = true
		if again, created, err := s.Append(bg, &Message{RoomID: "elsewhere", UserID: "u", ClientMsgID: room}); err != nil || created || again.ID != m.ID {
			t.Fatalf("cross-slot resend: %v %v", created, err)
		}
	}
	if len(owners) != 3 {
		t.Fatalf("rooms on %d masters, want 3", len(owners))
	}
}

// TestRedisUnavailable stops Redis under a store with short client timeouts: calls fail
// with ErrUnavailable within the timeouts, and work again once Redis is back, with what was
// written before (appendfsync always) still there.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
		PoolTimeout: 300 * time.Millisecond})
	defer c.Close()
	s, err := OpenRedis(bg, RedisOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "before", ClientMsgID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 1500 * time.Millisecond // (1 + MaxRetries) * timeout, with room to spare
	calls := map[string]func() error{
		"Append": func() error {
			_, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "during", ClientMsgID: "c2"})
			return err
		},
		"Get":       func() error { _, err := s.Get(bg, m.ID); return err },
		"Edit":      func() error { _, err := s.Edit(bg, m.ID, "u", "x", time.Time{}); return err },
		"Delete":    func() error { _, err := s.Delete(bg, m.ID, "u", time.Time{}); return err },
		"History":   func() error { _, _, err := s.History(bg, "r", HistoryQuery{}); return err },
		"MarkRead":  func() error { return s.MarkRead(bg, "r", "v", m.ID) },
		"ReadState": func() error { _, _, err := s.ReadState(bg, "r", "v"); return err },
	}
	check := func(phase string, names ...string) {
		t.Helper()
		for _, name := range names {
			start := time.Now()
			err := calls[name]()
			if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > bound {
				t.Fatalf("%s: %s: err %v after %v, want ErrUnavailable within %v", phase, name, err, took, bound)
			}
		}
	}

	// A hung server: reads time out. (Only reads: writes sent now would run on SIGCONT.)
	r.Signal(syscall.SIGSTOP)
	check("stopped", "Get", "History", "ReadState")
	// A cancelled context still reports the cancellation, not ErrUnavailable.
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	_, err = s.Get(ctx, m.ID)
	cancel()
	wantErr(t, "Get with a short deadline", err, context.DeadlineExceeded)
	r.Signal(syscall.SIGCONT)

	// A dead server: connections are refused.
	r.Stop()
	check("killed", "Append", "Get", "Edit", "Delete", "History", "MarkRead", "ReadState")
	_, err = OpenRedis(bg, RedisOptions{Client: c})
	wantErr(t, "OpenRedis while Redis is down", err, ErrUnavailable)

	r.Restart()
	var got *Message
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, err = s.Get(bg, m.ID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after restart: %v", err)
		}
	}
	sameMsg(t, "message written before the outage", got, m)
	n, created, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "after", ClientMsgID: "c2"})
	if err != nil || !created || n.ID <= m.ID {
		t.Fatalf("Append after restart: %v %v %+v", created, err, n)
	}
	again, created, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "c1"})
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("resend after restart: %v %v", created, err)
	}
	if err := s.MarkRead(bg, "r", "v", n.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRedisHistoryCap(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{HistoryCap: 5, Prefix: "capped"})
	var m []*Message
	for i := range 8 {
		x, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: fmt.Sprint(i), ClientMsgID: fmt.Sprint("c", i)})
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, x)
	}
	h := &harness{t: t, s: s}
	h.wantPage("r", HistoryQuery{}, m[3:], false)
	c := s.c
	for _, x := range m[:3] {
		_, err := s.Get(bg, x.ID)
		wantErr(t, "Get trimmed", err, ErrNotFound)
		wantErr(t, "MarkRead trimmed", s.MarkRead(bg, "r", "v", x.ID), ErrNotFound)
		_, _, err = s.History(bg, "r", HistoryQuery{After: x.ID})
		wantErr(t, "History after a trimmed cursor", err, ErrNotFound)
	}
	if n := c.HLen(bg, s.keys.room("r", "cmid")).Val(); n != 5 {
		t.Fatalf("room cmid index holds %d entries", n)
	}
	if n := c.HLen(bg, s.keys.user("u")).Val(); n != 5 {
		t.Fatalf("user cmid index holds %d entries", n)
	}
	if keys := c.Keys(bg, "capped:*:m:*").Val(); len(keys) != 5 {
		t.Fatalf("%d message hashes", len(keys))
	}
	// A trimmed message's clientMsgId is free again.
	x, created, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "c0"})
	if err != nil || !created || x.ID == m[0].ID {
		t.Fatalf("resend of a trimmed message: %v %v", created, err)
	}
	// A stale entry left in the user's index (cleanup lost) is taken over too.
	if err := c.HSet(bg, s.keys.user("u"), "c1", sid{ms: 1, low: uint64(keySlot("r"))}.String()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "c1"}); err != nil || !created {
		t.Fatalf("resend with a stale index entry: %v %v", created, err)
	}
	// Lowering the cap shrinks the room over the next appends, 100 at a time.
	big := rs.open(t, RedisOptions{Prefix: "capped"})
	for i := range 250 {
		if _, _, err := big.Append(bg, &Message{RoomID: "r", UserID: "u", Content: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int64{156, 57, 5} {
		if _, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", Content: "more"}); err != nil {
			t.Fatal(err)
		}
		if n := c.XLen(bg, s.keys.room("r", "log")).Val(); n != want {
			t.Fatalf("stream length %d, want %d", n, want)
		}
	}
	if keys := c.Keys(bg, "capped:*:m:*").Val(); len(keys) != 5 {
		t.Fatalf("%d message hashes after shrinking", len(keys))
	}
}

func TestRedisDedup(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{})
	c := s.c

	// Many resends at once, to different rooms: one message.
	var wg sync.WaitGroup
	res := make([]*Message, 16)
	created := make([]bool, 16)
	for i := range res {
		wg.Go(func() {
			var err error
			res[i], created[i], err = s.Append(bg, &Message{RoomID: fmt.Sprint("room", i%4), UserID: "u", ClientMsgID: "same"})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	n := 0
	for i := range res {
		if created[i] {
			n++
		}
		if res[i].ID != res[0].ID {
			t.Fatalf("resends got different messages")
		}
	}
	if n != 1 {
		t.Fatalf("%d of 16 concurrent sends created a message", n)
	}
	x, _ := sidOfID(res[0].ID)
	if v := c.HGet(bg, s.keys.user("u"), "same").Val(); v != x.String() {
		t.Fatalf("user index holds %q, want %q", v, x)
	}

	// A reservation of a live Append elsewhere: this one waits for it...
	s.lease = 300 * time.Millisecond
	c.HSet(bg, s.keys.user("u"), "held", "~other:"+strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10))
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	_, _, err := s.Append(ctx, &Message{RoomID: "r", UserID: "u", ClientMsgID: "held"})
	cancel()
	wantErr(t, "Append while another holds the clientMsgId", err, context.DeadlineExceeded)
	// ... and resolves as soon as the other finishes.
	other, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u2", Content: "other"})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := sidOfID(other.ID)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.HSet(bg, s.keys.user("u"), "held", y.String())
	}()
	got, created1, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "held"})
	if err != nil || created1 || got.ID != other.ID {
		t.Fatalf("after the other Append: %v %v %+v", created1, err, got)
	}
	// A reservation whose lease ran out (its node died) is taken over.
	c.HSet(bg, s.keys.user("u"), "orphan", "~dead:"+strconv.FormatInt(time.Now().Add(100*time.Millisecond).UnixMilli(), 10))
	start := time.Now()
	if _, created, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "orphan"}); err != nil || !created {
		t.Fatalf("takeover: %v %v", created, err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("took over a live reservation after %v", took)
	}

	// The user-level step lost (entry gone): the room-level index still catches a resend
	// to the same room, and the user index is repaired.
	first, _, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "lost", Content: "1"})
	if err != nil {
		t.Fatal(err)
	}
	c.HDel(bg, s.keys.user("u"), "lost")
	again, created2, err := s.Append(bg, &Message{RoomID: "r", UserID: "u", ClientMsgID: "lost", Content: "2"})
	if err != nil || created2 || again.ID != first.ID || again.Content != "1" {
		t.Fatalf("room-level dedup: %v %v %+v", created2, err, again)
	}
	if c.HGet(bg, s.keys.user("u"), "lost").Val() == "" {
		t.Fatal("user index not repaired")
	}

	// A failed room script releases the reservation: the retry goes through at once.
	c.Set(bg, s.keys.room("broken", "log"), "not a stream", 0)
	_, _, err = s.Append(bg, &Message{RoomID: "broken", UserID: "u", ClientMsgID: "retry"})
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Append to a broken room: %v", err)
	}
	if v, err := c.HGet(bg, s.keys.user("u"), "retry").Result(); err != redis.Nil {
		t.Fatalf("reservation left behind: %q %v", v, err)
	}
	c.Del(bg, s.keys.room("broken", "log"))
	if _, created, err := s.Append(bg, &Message{RoomID: "broken", UserID: "u", ClientMsgID: "retry"}); err != nil || !created {
		t.Fatalf("retry: %v %v", created, err)
	}
}

// TestRedisRetries runs scripts twice, as the client library does when a reply is lost.
func TestRedisRetries(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{})
	// One call with three messages (one with a clientMsgId), made twice with the same op
	// token and floor: the second stores nothing and answers as the first did.
	h := &harness{t: t, s: s}
	before := h.add("r", "u", "stored before")
	batch := func() []appendRes {
		reqs := []*appendReq{
			s.newAppendReq(bg, &Message{RoomID: "r", UserID: "u", Content: "once"}, "", ""),
			s.newAppendReq(bg, &Message{RoomID: "r", UserID: "u", Content: "again", ClientMsgID: "c1"}, s.keys.user("u"), ""),
			s.newAppendReq(bg, &Message{RoomID: "other", UserID: "u", Content: "twice"}, "", ""),
		}
		return s.appendResults(s.callAppend(bg, s.c, "tok", 0, reqs), len(reqs))
	}
	first, retried := batch(), batch()
	for i := range first {
		if first[i].err != nil || retried[i].err != nil || first[i].code != appendStored ||
			retried[i].code != first[i].code || retried[i].x != first[i].x || first[i].x.id() <= before.ID {
			t.Fatalf("message %d: first %+v, retried %+v", i, first[i], retried[i])
		}
	}
	a := first[0].x.id()
	if n := s.c.XLen(bg, s.keys.room("r", "log")).Val(); n != 3 {
		t.Fatalf("room r holds %d entries after a retried call, want 3", n)
	}

	at := time.Now()
	d1, err := s.change(bg, a, scriptDelete, "u", at.UnixMilli(), "del-tok")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.change(bg, a, scriptDelete, "u", at.UnixMilli(), "del-tok")
	if err != nil {
		t.Fatalf("retried delete: %v", err)
	}
	sameMsg(t, "retried delete", d2, d1)
	_, err = s.Delete(bg, a, "u", at)
	wantErr(t, "second delete", err, ErrNotFound)
}

// TestRedisBatches: concurrent appends share script calls, each still stored once and in
// order, and a message that fails in a call fails alone.
func TestRedisBatches(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{})
	c := s.c
	calls := func() int64 {
		for line := range strings.SplitSeq(c.Info(bg, "commandstats").Val(), "\n") {
			if k, v, _ := strings.Cut(strings.TrimSpace(line), ":"); k == "cmdstat_evalsha" {
				n, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(v, ",")[0], "calls="), 10, 64)
				return n
			}
		}
		return 0
	}
	const senders, each, rooms = 50, 8, 5
	before := calls()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			var last string
			for k := range each {
				m, created, err := s.Append(bg, &Message{RoomID: fmt.Sprint("room", (g+k)%rooms), UserID: fmt.Sprint("u", g),
					Content: fmt.Sprint(g, ":", k), ClientMsgID: fmt.Sprint("c", k)})
				if err != nil || !created || m.ID <= last {
					t.Errorf("sender %d, message %d: %v %v, id %s after %s", g, k, created, err, m.ID, last)
					return
				}
				last = m.ID
			}
		})
	}
	wg.Wait()
	used := calls() - before
	t.Logf("%d appends in %d script calls", senders*each, used)
	if used >= senders*each {
		t.Fatalf("%d appends took %d script calls: none shared", senders*each, used)
	}
	total := 0
	for r := range rooms {
		msgs := walkForward(&harness{t: t, s: s}, fmt.Sprint("room", r))
		total += len(msgs)
		for i := 1; i < len(msgs); i++ {
			if msgs[i].ID <= msgs[i-1].ID {
				t.Fatalf("room%d: %s after %s", r, msgs[i].ID, msgs[i-1].ID)
			}
		}
	}
	if total != senders*each {
		t.Fatalf("%d messages stored, want %d", total, senders*each)
	}

	// a room whose stream key holds something else, between two good messages of one call
	c.Set(bg, s.keys.room("broken", "log"), "not a stream", 0)
	reqs := []*appendReq{
		s.newAppendReq(bg, &Message{RoomID: "r", UserID: "u", Content: "before"}, "", ""),
		s.newAppendReq(bg, &Message{RoomID: "broken", UserID: "u", Content: "lost"}, "", ""),
		s.newAppendReq(bg, &Message{RoomID: "r", UserID: "u", Content: "after"}, "", ""),
	}
	res := s.appendResults(s.callAppend(bg, c, "mixed", 0, reqs), len(reqs))
	if res[0].code != appendStored || res[2].code != appendStored || res[1].err == nil ||
		errors.Is(res[1].err, ErrUnavailable) || !strings.Contains(res[1].err.Error(), "WRONGTYPE") {
		t.Fatalf("mixed call: %+v", res)
	}
	for _, i := range []int{0, 2} {
		if m, err := s.Get(bg, res[i].x.id()); err != nil || m.Content != reqs[i].m.Content {
			t.Fatalf("message %d of the mixed call: %+v %v", i, m, err)
		}
	}
}

// TestRedisAllocator: ids keep increasing when the slot allocator is lost, and across
// rooms of different slots for one caller.
func TestRedisAllocator(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{})
	c := s.c
	slot := keySlot("r")
	future := time.Now().Add(time.Hour).UnixMilli()
	c.Set(bg, s.keys.alloc(slot), fmt.Sprintf("%d:%d", future, maxSeq), 0)
	a := (&harness{t: t, s: s}).add("r", "u", "from the future")
	if x, _ := sidOfID(a.ID); x.ms != uint64(future+1) || x.seq() != 0 || x.slot() != slot {
		t.Fatalf("seq overflow: %+v", x)
	}
	c.Del(bg, s.keys.alloc(slot))
	s2 := rs.open(t, RedisOptions{}) // a new node: its floor is 0
	b := (&harness{t: t, s: s2}).add("r", "u", "after the loss")
	if b.ID <= a.ID {
		t.Fatalf("id went back: %s after %s", b.ID, a.ID)
	}
	// Same clock, other slot: the store's floor orders them.
	other := "r2"
	for keySlot(other) == slot {
		other += "x"
	}
	o := (&harness{t: t, s: s2}).add(other, "u", "next")
	if o.ID <= b.ID {
		t.Fatalf("id in another room went back: %s after %s", o.ID, b.ID)
	}
	if _, err := s2.Get(bg, o.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRedisOpenErrors(t *testing.T) {
	t.Parallel()
	unused := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer unused.Close()
	for _, opts := range []RedisOptions{{}, {Client: unused, Prefix: "a{b"}, {Client: unused, HistoryCap: -1}} {
		if _, err := OpenRedis(bg, opts); err == nil || errors.Is(err, ErrUnavailable) {
			t.Fatalf("OpenRedis(%+v): %v", opts, err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), MaxRetries: -1})
	_, err := OpenRedis(bg, RedisOptions{Client: c})
	wantErr(t, "OpenRedis without a server", err, ErrUnavailable)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = OpenRedis(ctx, RedisOptions{Client: c})
	wantErr(t, "OpenRedis with a cancelled context", err, context.Canceled)
	c.Close()
	_, err = OpenRedis(bg, RedisOptions{Client: c})
	wantErr(t, "OpenRedis on a closed client", err, ErrClosed)
}

// fakeRedisErr is an error reply.
type fakeRedisErr string

func (e fakeRedisErr) Error() string { return string(e) }
func (fakeRedisErr) RedisError()     {}

func TestRedisErrorMapping(t *testing.T) {
	t.Parallel()
	s := &redisStore{}
	for _, c := range []struct {
		err  error
		want error
	}{
		{fakeRedisErr("LOADING Redis is loading the dataset in memory"), ErrUnavailable},
		{fakeRedisErr("CLUSTERDOWN The cluster is down"), ErrUnavailable},
		{fakeRedisErr("READONLY You can't write against a read only replica."), ErrUnavailable},
		{fakeRedisErr("ERR max number of clients reached"), ErrUnavailable},
		{fakeRedisErr("BUSY Redis is busy running a script"), ErrUnavailable},
		{fakeRedisErr("ERR Script attempted to access a non local key in a cluster node script: x"), ErrUnavailable},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ErrUnavailable},
		{redis.ErrPoolTimeout, ErrUnavailable},
		{context.DeadlineExceeded, ErrUnavailable}, // the client's own dial deadline
		{redis.ErrClosed, ErrClosed},
	} {
		if got := s.fail(bg, c.err); !errors.Is(got, c.want) {
			t.Fatalf("fail(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	wrong := fakeRedisErr("WRONGTYPE Operation against a key holding the wrong kind of value")
	if got := s.fail(bg, wrong); errors.Is(got, ErrUnavailable) || !errors.Is(got, wrong) {
		t.Fatalf("fail(WRONGTYPE) = %v", got)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	wantErr(t, "fail with a done context", s.fail(ctx, redis.ErrPoolTimeout), context.Canceled)
	if s.fail(bg, nil) != nil {
		t.Fatal("fail(nil)")
	}
}

// TestRedisCorrupt: foreign or damaged data under the engine's keys is an error, not a
// wrong message.
func TestRedisCorrupt(t *testing.T) {
	t.Parallel()
	_, rs := standalone(t)
	s := rs.open(t, RedisOptions{})
	c := s.c
	m := (&harness{t: t, s: s}).add("r", "u", "x")
	x, _ := sidOfID(m.ID)
	for field, v := range map[string]string{"a": "\x05", "e": "soon", "x": "never"} {
		c.HSet(bg, s.keys.msg(x), field, v)
		if _, err := s.Get(bg, m.ID); !errors.Is(err, errCorrupt) {
			t.Fatalf("Get with a bad %s field: %v", field, err)
		}
		if _, _, err := s.History(bg, "r", HistoryQuery{}); !errors.Is(err, errCorrupt) {
			t.Fatalf("History with a bad %s field: %v", field, err)
		}
		c.HDel(bg, s.keys.msg(x), field)
	}
	c.HSet(bg, s.keys.room("r", "reads"), "u2", "garbage")
	if _, _, err := s.ReadState(bg, "r", "u2"); !errors.Is(err, errCorrupt) {
		t.Fatalf("ReadState with a bad watermark: %v", err)
	}
	// A bad watermark does not stop MarkRead from setting a good one.
	if err := s.MarkRead(bg, "r", "u2", m.ID); err != nil {
		t.Fatal(err)
	}
	if last, _, err := s.ReadState(bg, "r", "u2"); err != nil || last != m.ID {
		t.Fatalf("ReadState: %q %v", last, err)
	}
	// Keys holding the wrong type: Redis errors, neither "unavailable" nor "not found".
	c.Set(bg, s.keys.room("s", "log"), "x", 0)
	for name, err := range map[string]error{
		"History":   func() error { _, _, err := s.History(bg, "s", HistoryQuery{}); return err }(),
		"ReadState": func() error { _, _, err := s.ReadState(bg, "s", "u"); return err }(),
		"Edit": func() error {
			c.Set(bg, s.keys.msg(x), "x", 0)
			_, err := s.Edit(bg, m.ID, "u", "y", time.Time{})
			return err
		}(),
		"MarkRead": s.MarkRead(bg, "r", "u", m.ID),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
			t.Fatalf("%s on a key of the wrong type: %v", name, err)
		}
	}
}

func TestRedisKeys(t *testing.T) {
	t.Parallel()
	// Slots from the Redis Cluster specification and CLUSTER KEYSLOT.
	for s, want := range map[string]int{"123456789": 0x31c3, "foo": 12182, "somekey": 11058, "": 0} {
		if got := keySlot(s); got != want {
			t.Fatalf("keySlot(%q) = %d, want %d", s, got, want)
		}
	}
	tags := slotTags()
	seen := map[string]bool{}
	for i, tag := range tags {
		if keySlot(tag) != i || seen[tag] || strings.ContainsAny(tag, "{}") {
			t.Fatalf("tag %d = %q", i, tag)
		}
		seen[tag] = true
	}
	// Stream id, message id, string order.
	var prev string
	for _, x := range []sid{{1, 0}, {1, 1}, {1, 1<<14 + 3}, {2, 0}, {1 << 41, lowMask}, {1<<42 - 1, lowMask}} {
		id := x.id()
		if !ValidID(id) || id <= prev {
			t.Fatalf("id of %v = %q (after %q)", x, id, prev)
		}
		prev = id
		if y, ok := sidOfID(id); !ok || y != x {
			t.Fatalf("sidOfID(%q) = %v %v", id, y, ok)
		}
		if y, ok := parseSID(x.String()); !ok || y != x {
			t.Fatalf("parseSID(%q) = %v %v", x, y, ok)
		}
	}
	for _, bad := range []string{"", "1", "1-", "-1", "1-x", "1-4194304", "4398046511104-0"} {
		if _, ok := parseSID(bad); ok {
			t.Fatalf("parseSID(%q) ok", bad)
		}
	}
	if cmidField("ab", "c") == cmidField("a", "bc") {
		t.Fatal("cmidField is ambiguous")
	}
}

// BenchmarkAppendRedis: appends through the script to a local redis-server, with and
// without a clientMsgId, and Redis's own CPU per append (INFO's used_cpu_*).
func BenchmarkAppendRedis(b *testing.B) {
	_, rs := standalone(b)
	for _, cmid := range []bool{false, true} {
		for _, senders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("cmid=%v/senders=%d", cmid, senders), func(b *testing.B) {
				rs.flush(b)
				s := rs.open(b, RedisOptions{})
				before := redisCPU(b, s.c)
				appendLoad(b, s, senders, cmid)
				b.ReportMetric((redisCPU(b, s.c)-before)*1e6/float64(b.N), "redis-µs/op")
			})
		}
	}
}

// redisCPU is the Redis server's CPU time so far, in seconds.
func redisCPU(b *testing.B, c redis.UniversalClient) float64 {
	info, err := c.Info(bg, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}
