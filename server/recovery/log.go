package recovery

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options turn connection state recovery on (Window > 0).
type Options struct {
	Window     time.Duration // how long a disconnected socket's state is kept (2 min in Socket.IO)
	MaxPackets int           // broadcasts kept for replay at most (10,000)
	// MaxBytes bounds the log's size (32 MiB): what its broadcasts' arguments take, about
	// their encoded size, plus a little for each. The oldest go first. The heap holds about
	// twice what it keeps (GOGC=100): 32 MiB cost about 90 MB under a flood of big edits.
	MaxBytes int64
	// ForAll gives every socket offsets and a pid, as Socket.IO's connectionStateRecovery
	// does; without it only sockets whose client asked for them (or came back with a pid)
	// get them, and clients with fixed-arity handlers get exactly the events' arguments.
	ForAll bool
	// Journal is a file the log and the sockets' states are written to as they change, and
	// read back from when the log is made: clients cut off by a restart, graceful or a
	// crash, recover on the next process (journal.go). "" keeps them in memory only.
	Journal string
}

// Log is the server's recent broadcasts and the states of recently disconnected sockets.
// Its lock orders broadcasts against restoring sockets: a broadcast takes its offset and
// reaches the shards under it, and a restoring socket joins its rooms and gets its replay
// under it, so that each broadcast reaches it exactly once, replayed or live.
type Log struct {
	opts  Options
	epoch string // offsets of another process are unknown here

	mu        sync.Mutex
	first     uint64 // position of entries[0]
	entries   []entry
	bytes     int64                // the entries' sizes
	evicted   [evictReasons]uint64 // broadcasts dropped from the log, by reason
	kept      map[string]*state    // by pid
	handovers map[string]*handover // by pid: states claimed by another node, not yet collected
	live      map[string]*Member   // by pid: connected sockets
	claiming  int                  // sockets taking a state over from another node, logging meanwhile
	journal   *journal             // nil without Options.Journal
	saving    sync.WaitGroup       // Keeps under way
}

// Broadcast is a room broadcast to log: the event and its arguments, whom it is for, and
// its id across nodes.
type Broadcast struct {
	Nsp           string
	Data          []any    // the event's name and arguments
	Rooms, Except []string // room keys
	Skip          string   // the id of a socket it skips, or ""
	ID            string   // its id on the node it came from; "" when it starts here
}

// entry is a logged broadcast.
type entry struct {
	at            time.Time
	id            string // its id across nodes, when it came from another node ("": its offset here)
	nsp           string
	data          []any
	rooms, except []string
	skip          string
	size          int64 // what it holds (sizeOf)
}

// New returns a log with o's bounds, and what o.Journal holds from a previous process; nil
// when o.Window is not positive (recovery off).
func New(o Options) *Log {
	if o.Window <= 0 {
		return nil
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = 10_000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 32 << 20
	}
	l := &Log{
		opts: o,
		// the process's start and a random part: offsets double as broadcast ids across nodes
		epoch:     strconv.FormatInt(time.Now().UnixMilli(), 36) + "." + strconv.FormatUint(uint64(mrand.Uint32()), 36),
		first:     1,
		kept:      make(map[string]*state),
		handovers: make(map[string]*handover),
		live:      make(map[string]*Member),
	}
	if o.Journal != "" {
		l.openJournal(o.Journal)
	}
	return l
}

// Log gives b its offset, logs it and calls send with the offset, under the log's lock:
// send hands the broadcast to the shards. While no socket takes part in recovery (none
// connected that tracks offsets, none kept, none being taken over), nothing could ever be
// replayed, and nothing is logged: clients that do not ask cost the log nothing.
func (l *Log) Log(b Broadcast, send func(offset string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	offset := l.offset(l.head())
	if len(l.live)+len(l.kept)+len(l.handovers)+l.claiming == 0 {
		send(offset)
		return
	}
	now := time.Now()
	l.add(entry{at: now, id: b.ID, nsp: b.Nsp, data: b.Data, rooms: b.Rooms, except: b.Except, skip: b.Skip}, now)
	if l.journal != nil {
		l.record(l.entries[len(l.entries)-1].record())
	}
	send(offset)
}

// add appends e to the log, after evict made room for it (callers hold mu).
func (l *Log) add(e entry, now time.Time) {
	e.size = entrySize + int64(16*(len(e.rooms)+len(e.except))) + sizeOf(e.data)
	l.evict(now, e.size)
	l.entries = append(l.entries, e)
	l.bytes += e.size
}

// evict drops from the front of the log what is older than the window, and what leaves no
// room for one more broadcast of size bytes within MaxPackets and MaxBytes (callers hold
// mu).
func (l *Log) evict(now time.Time, size int64) {
	drop := 0
	for ; drop < len(l.entries); drop++ {
		reason := evictedOld
		switch {
		case len(l.entries)-drop >= l.opts.MaxPackets:
			reason = evictedPackets
		case l.bytes+size > l.opts.MaxBytes:
			reason = evictedBytes
		case now.Sub(l.entries[drop].at) <= l.opts.Window:
			reason = -1
		}
		if reason < 0 {
			break
		}
		l.evicted[reason]++
		l.bytes -= l.entries[drop].size
	}
	if drop == 0 {
		return
	}
	clear(l.entries[:drop])
	l.entries = l.entries[drop:]
	l.first += uint64(drop)
	if cap(l.entries) > 2*l.opts.MaxPackets { // let the dropped front go
		l.entries = slices.Clone(l.entries)
	}
}

// Why broadcasts leave the log: older than the window, or beyond MaxPackets or MaxBytes.
const (
	evictedOld = iota
	evictedPackets
	evictedBytes
	evictReasons
)

// entrySize is what an entry takes besides its rooms and arguments.
const entrySize = 160

// head is the position of the next broadcast (callers hold mu).
func (l *Log) head() uint64 { return l.first + uint64(len(l.entries)) }

// offset names the log position seq.
func (l *Log) offset(seq uint64) string {
	return l.epoch + "-" + strconv.FormatUint(seq, 36)
}

// id is the id across nodes of the broadcast at position seq (callers hold mu).
func (l *Log) id(seq uint64) string {
	if id := l.entries[seq-l.first].id; id != "" {
		return id
	}
	return l.offset(seq)
}

// position parses an offset of this process into the log position after it.
func (l *Log) position(offset string) (uint64, bool) {
	epoch, seq, ok := strings.Cut(offset, "-")
	if !ok || epoch != l.epoch {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 36, 64)
	return n + 1, err == nil
}

// Missed is a logged broadcast a restored socket missed: the event and its arguments, and
// the offset it is replayed with.
type Missed struct {
	Data   []any
	Offset string
}

// missed lists the logged broadcasts from position from on that reached rooms and were not
// meant to skip sid (callers hold mu).
func (l *Log) missed(from uint64, sid string, rooms []string) []Missed {
	var out []Missed
	for i, e := range l.entries[from-l.first:] {
		if e.reaches(sid, rooms) {
			out = append(out, Missed{Data: e.data, Offset: l.offset(from + uint64(i))})
		}
	}
	return out
}

// reaches reports whether the broadcast was delivered to a socket sid in rooms.
func (e *entry) reaches(sid string, rooms []string) bool {
	if e.skip == sid {
		return false
	}
	for _, r := range e.except {
		if slices.Contains(rooms, r) {
			return false
		}
	}
	for _, r := range e.rooms {
		if slices.Contains(rooms, r) {
			return true
		}
	}
	return false
}

// newPID is a fresh private session id: random, as a sid is.
func newPID() string { return rand.Text() }

// Stats are a log's figures, for metrics.
type Stats struct {
	Broadcasts   int   // in the log
	Bytes        int64 // their size (Options.MaxBytes)
	Kept         int   // states kept for their clients, or claimed by another node
	JournalBytes int64 // the journal file's size (0 without one)
	// broadcasts dropped from the log: older than the window, beyond MaxPackets, beyond
	// MaxBytes
	EvictedOld, EvictedPackets, EvictedBytes uint64
}

// Stats returns the log's figures now.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{
		Broadcasts: len(l.entries), Bytes: l.bytes, Kept: len(l.kept) + len(l.handovers),
		EvictedOld: l.evicted[evictedOld], EvictedPackets: l.evicted[evictedPackets], EvictedBytes: l.evicted[evictedBytes],
	}
	if l.journal != nil {
		st.JournalBytes = l.journal.size
	}
	return st
}
