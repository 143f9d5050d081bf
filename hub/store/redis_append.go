package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Appends reach Redis in batches. An Append that finds fewer than maxCalls calls of the
// append script under way makes one at once, for its own message alone, from its own
// goroutine; Appends that arrive while maxCalls are under way queue up, and each call that
// returns sends the queue as the next call (on a goroutine of its own), and so on while
// there is a queue. So a lone message costs no hand-off, and under load the messages that
// arrive during a round trip share the next: one script call for all of them on standalone
// Redis (one per hash slot, pipelined, on Redis Cluster), with one clock reading, one read
// and write of each slot's allocator and one op key. Each Append still returns only once
// Redis has run the script that stored its message.
const (
	maxCalls      = 4         // calls of the append script under way at once, per store
	maxBatch      = 128       // messages in one script call
	maxBatchBytes = 256 << 10 // their fields' bytes, about (a larger message goes alone)
	// batchTimeout bounds one call, beyond the client's own timeouts.
	batchTimeout = 10 * time.Second
	// heldWait is the longest pause between two looks at a clientMsgId another Append holds.
	heldWait = 50 * time.Millisecond
)

// Reply codes of scriptAppend, per message.
const (
	appendFailed   = -1 // this message's part of the script failed
	appendExisting = 0  // the room holds the message of this (user, clientMsgId)
	appendStored   = 1
	appendIndexed  = 2 // the user's index names a message, maybe of another room
	appendHeld     = 3 // another Append holds the clientMsgId
)

// appendReq is one message to append.
type appendReq struct {
	ctx  context.Context
	m    *Message // the caller's copy: ID and CreatedAt are set when it is stored
	keys string   // its room stream
	slot int
	args []any // its part of the script's ARGV
	size int
	done chan appendRes // buffered: the loop never waits for a caller that gave up
}

// appendRes is the script's answer for one message.
type appendRes struct {
	code   int64
	x      sid
	raw    string            // appendIndexed: the index entry as found
	fields map[string]string // appendExisting
	gone   []string          // appendStored: (user, cmid, sid) of trimmed messages
	err    error
}

// scriptError is an error reply of one message's part of a script, so that fail maps it
// like a whole reply.
type scriptError string

func (e scriptError) Error() string { return string(e) }
func (scriptError) RedisError()     {}

// newAppendReq prepares c, to be checked against the user's clientMsgId index uidx ("":
// not here) where it does not hold stale.
func (s *redisStore) newAppendReq(ctx context.Context, c *Message, uidx, stale string) *appendReq {
	slot := keySlot(c.RoomID)
	f := messageFields(c)
	r := &appendReq{ctx: ctx, m: c, keys: s.keys.room(c.RoomID, "log"), slot: slot, done: make(chan appendRes, 1)}
	r.args = append(make([]any, 0, 8+len(f)), s.keys.slotPart(slot), slot, c.RoomID, c.UserID, c.ClientMsgID, uidx, stale, len(f))
	r.args = append(r.args, f...)
	for _, v := range f {
		switch v := v.(type) {
		case string:
			r.size += len(v)
		case []byte:
			r.size += len(v)
		}
	}
	return r
}

// submit stores r: now, when fewer than maxCalls calls are under way, else with the next
// call. It waits for the answer or the end of ctx.
func (s *redisStore) submit(ctx context.Context, r *appendReq) appendRes {
	s.qmu.Lock()
	if s.calling >= maxCalls {
		s.queue = append(s.queue, r)
		s.qmu.Unlock()
		select {
		case res := <-r.done:
			return res
		case <-ctx.Done():
			return appendRes{err: ctx.Err()} // the call will find it given up
		}
	}
	s.calling++
	s.qmu.Unlock()
	s.runBatch([]*appendReq{r})
	s.nextBatch()
	return <-r.done
}

// nextBatch sends what queued up during a call as the next call, on its own goroutine, or
// counts the call out.
func (s *redisStore) nextBatch() {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(s.queue) == 0 {
		s.calling--
		return
	}
	n, size := 0, 0
	for n < len(s.queue) && n < maxBatch && size < maxBatchBytes {
		size += s.queue[n].size
		n++
	}
	batch := slices.Clone(s.queue[:n])
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		s.runBatch(batch)
		s.nextBatch()
	}()
}

// runBatch stores a batch and answers each of its appends. Appends whose caller gave up
// before the batch left are dropped.
func (s *redisStore) runBatch(batch []*appendReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- appendRes{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	groups := [][]*appendReq{live}
	if s.cluster { // one call per slot: a script's keys share one
		bySlot := map[int]int{}
		groups = groups[:0]
		for _, r := range live {
			i, ok := bySlot[r.slot]
			if !ok {
				i = len(groups)
				bySlot[r.slot] = i
				groups = append(groups, nil)
			}
			groups[i] = append(groups[i], r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	floor := s.floor.Load()
	calls := make([]*redis.Cmd, len(groups))
	tokens := make([]string, len(groups))
	if len(groups) == 1 {
		tokens[0] = s.token()
		calls[0] = s.callAppend(ctx, s.c, tokens[0], floor, groups[0])
	} else {
		_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, g := range groups {
				tokens[i] = s.token()
				calls[i] = s.callAppend(ctx, p, tokens[i], floor, g)
			}
			return nil
		})
		for i, call := range calls {
			if redis.HasErrorPrefix(call.Err(), "NOSCRIPT") { // Redis lost its scripts: send this one whole
				calls[i] = s.callAppend(ctx, s.c, tokens[i], floor, groups[i])
			}
		}
	}
	for i, g := range groups {
		res := s.appendResults(calls[i], len(g))
		for k, r := range g {
			r.done <- res[k]
		}
	}
}

// callAppend runs scriptAppend for msgs (one slot's on Redis Cluster) under the op key of
// token; floor is the id every new message goes past. On a pipeline it only queues the
// call (EVALSHA, the script being loaded at OpenRedis).
func (s *redisStore) callAppend(ctx context.Context, c redis.Scripter, token string, floor uint64, msgs []*appendReq) *redis.Cmd {
	keys := make([]string, 1, 1+len(msgs))
	keys[0] = s.keys.op(msgs[0].slot, token)
	args := []any{opKeyTTL.Milliseconds(), floor >> seqBits, floor & maxSeq, s.cap}
	for _, r := range msgs {
		keys = append(keys, r.keys)
		args = append(args, r.args...)
	}
	if _, pipelined := c.(redis.Pipeliner); pipelined {
		return scriptAppend.EvalSha(ctx, c, keys, args...)
	}
	return scriptAppend.Run(ctx, c, keys, args...)
}

// appendResults reads the script's n answers; a failed call fails them all.
func (s *redisStore) appendResults(call *redis.Cmd, n int) []appendRes {
	out := make([]appendRes, n)
	list, err := call.Slice()
	if err == nil && len(list) != n {
		err = errCorrupt
	}
	if err != nil {
		err = s.fail(context.Background(), err)
		for i := range out {
			out[i].err = err
		}
		return out
	}
	for i, item := range list {
		out[i] = s.appendResult(item)
	}
	return out
}

// appendResult reads one message's answer.
func (s *redisStore) appendResult(item any) (res appendRes) {
	reply, _ := item.([]any)
	if len(reply) == 0 {
		return appendRes{err: errCorrupt}
	}
	res.code, _ = reply[0].(int64)
	if len(reply) > 1 {
		res.raw, _ = reply[1].(string)
	}
	switch res.code {
	case appendFailed:
		res.err = s.fail(context.Background(), scriptError(res.raw))
		return res
	case appendHeld:
		return res
	}
	x, ok := parseSID(res.raw)
	switch {
	case res.code == appendIndexed:
		res.x = x // not ok: garbage in the index, which the next try replaces
		return res
	case !ok || len(reply) < 3:
		return appendRes{err: errCorrupt}
	}
	res.x = x
	s.observe(x)
	if res.code == appendExisting {
		res.fields, res.err = fieldMap(reply[2])
		return res
	}
	for _, g := range asList(reply[2]) {
		gs, _ := g.(string)
		res.gone = append(res.gone, gs)
	}
	return res
}

func asList(v any) []any { l, _ := v.([]any); return l }

// Append stores m in its room's slot with the batched script: the clientMsgId checks, the
// id allocation, the stream entry, the message hash and the trimming.
//
// De-duplication is per (user, clientMsgId) across rooms. On standalone Redis the script
// checks and records the user's index itself, atomically with the append. On Redis Cluster
// a user's index lives in the user's slot, which the room's script cannot touch: an Append
// with a clientMsgId first reserves the clientMsgId in the user's index with a leased
// token (waiting while another live Append holds it, taking over a reservation whose lease
// has run out), then runs the room script, then replaces the reservation by the message's
// stream id. Either way the room script also checks the room's own (user, clientMsgId)
// index, so a resend to the same room can never store a second message, even when the
// user-level step was lost (a failure after the room script, a lease that ran out). A
// resend to another room is caught by the user-level index; only on Redis Cluster, when an
// Append stalls longer than the lease between its reservation and its room script and a
// resend with the same clientMsgId goes to a different room meanwhile, could both be
// stored. When the room script fails, the reservation is released, so the client's retry
// proceeds at once (and, sent to the same room, finds the message if the failed script did
// run and only its answer was lost).
func (s *redisStore) Append(ctx context.Context, m *Message) (*Message, bool, error) {
	if err := checkAppend(m); err != nil {
		return nil, false, err
	}
	end, err := s.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer end()
	c := m.clone()
	if c.ClientMsgID == "" {
		return s.appendBatched(ctx, c, "")
	}
	ukey := s.keys.user(c.UserID)
	if !s.cluster {
		return s.appendBatched(ctx, c, ukey)
	}
	token := s.token()
	if old, err := s.reserve(ctx, ukey, c.ClientMsgID, token); err != nil || old != nil {
		return old, false, err
	}
	stored, created, err := s.appendBatched(ctx, c, "")
	if err != nil {
		s.cleanup(ctx, func(ctx context.Context) error {
			return scriptRelease.Run(ctx, s.c, []string{ukey}, c.ClientMsgID, "~"+token+":").Err()
		})
		return nil, false, err
	}
	x, _ := sidOfID(stored.ID)
	// The message is stored: a failure to record it in the user's index leaves the
	// reservation to expire, and costs only the cross-room check of a later resend.
	s.cleanup(ctx, func(ctx context.Context) error {
		return scriptFinalize.Run(ctx, s.c, []string{ukey}, c.ClientMsgID, token, x.String()).Err()
	})
	return stored, created, nil
}

// appendBatched stores c through the append loop, checked against the user's index uidx
// when it is given: it waits while another Append holds the clientMsgId there, and returns
// the message the index names, unless that one is gone (trimmed), in which case it tries
// again replacing that entry.
func (s *redisStore) appendBatched(ctx context.Context, c *Message, uidx string) (*Message, bool, error) {
	stale, wait := "", time.Millisecond
	for {
		res := s.submit(ctx, s.newAppendReq(ctx, c, uidx, stale))
		switch {
		case res.err != nil:
			return nil, false, res.err
		case res.code == appendStored:
			c.ID, c.CreatedAt = res.x.id(), time.UnixMilli(int64(res.x.ms)).UTC()
			s.forget(ctx, res.gone)
			return c, true, nil
		case res.code == appendExisting:
			old, err := decodeFields(res.x, res.fields)
			return old, false, err
		case res.code == appendIndexed:
			if res.raw == res.x.String() {
				old, err := s.load(ctx, res.x)
				if err == nil {
					s.observe(res.x)
					return old, false, nil
				}
				if !errors.Is(err, ErrNotFound) {
					return nil, false, err
				}
			}
			stale = res.raw // trimmed away (or garbage): the clientMsgId is free again
		case res.code == appendHeld: // an older node's Append holds it: wait for its outcome
			if err := pause(ctx, &wait); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, errCorrupt
		}
	}
}

// reserve takes (user, cmid) for token in the user's index ukey (Redis Cluster). It
// returns the stored message when the clientMsgId is already used by a message that still
// exists.
func (s *redisStore) reserve(ctx context.Context, ukey, cmid, token string) (*Message, error) {
	stale := ""
	wait := time.Millisecond
	for {
		res, err := scriptReserve.Run(ctx, s.c, []string{ukey}, cmid, token, s.lease.Milliseconds(), stale).Slice()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		switch code, _ := res[0].(int64); code {
		case 0:
			return nil, nil
		case 1: // another Append holds it: wait for its outcome
			if err := pause(ctx, &wait); err != nil {
				return nil, err
			}
		default:
			v, _ := res[1].(string)
			x, ok := parseSID(v)
			if ok {
				m, err := s.load(ctx, x)
				if err == nil {
					s.observe(x)
					return m, nil
				}
				if !errors.Is(err, ErrNotFound) {
					return nil, err
				}
			}
			stale = v // trimmed away (or garbage): the clientMsgId is free again
		}
	}
}

// forget removes trimmed messages from their users' clientMsgId indexes (best effort: an
// entry left behind points at a missing message, which Append treats as free).
func (s *redisStore) forget(ctx context.Context, gone []string) {
	if len(gone) == 0 {
		return
	}
	s.cleanup(ctx, func(ctx context.Context) error {
		for i := 0; i+2 < len(gone); i += 3 {
			if err := scriptRelease.Run(ctx, s.c, []string{s.keys.user(gone[i])}, gone[i+1], gone[i+2]).Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// pause waits *wait (unless ctx ends first), then doubles it up to heldWait.
func pause(ctx context.Context, wait *time.Duration) error {
	t := time.NewTimer(*wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	*wait = min(2**wait, heldWait)
	return nil
}
