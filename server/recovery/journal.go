package recovery

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log"
	"os"
	"slices"
	"time"

	"edgeio/codec"

	"github.com/vmihailenco/msgpack/v5"
)

// The recovery journal carries the log and the sockets' states across a restart of a single
// node, graceful or not. Each logged broadcast, each socket connected, each room joined or
// left, each state kept or dropped is appended to the journal file as it happens: written,
// not synced, so a killed process loses nothing the kernel has (a machine that loses power
// may lose the tail; those clients start afresh). The next process reads it back and goes
// on with the same epoch and sequence, so offsets keep their meaning; a socket that was
// connected when the process died is kept as if its connection had failed then. When the
// journal has grown to twice what it described when it was last written whole (and by
// journalSlack at least), it is rewritten from the live state: its size stays within about
// twice the log's byte bound and the sockets' records.

// record is one line of the journal; Kind says which fields it uses.
type record struct {
	Kind   byte     `msgpack:"k"`
	At     int64    `msgpack:"t,omitempty"` // unix ms: a broadcast's time, a kept state's expiry
	Nsp    string   `msgpack:"n,omitempty"`
	Data   []any    `msgpack:"d,omitempty"` // a broadcast's event and arguments
	Rooms  []string `msgpack:"r,omitempty"` // room keys
	Except []string `msgpack:"x,omitempty"`
	Skip   string   `msgpack:"s,omitempty"`
	ID     string   `msgpack:"i,omitempty"` // a broadcast's id from another node; a socket's sid
	PID    string   `msgpack:"p,omitempty"`
	Who    string   `msgpack:"w,omitempty"`
	Seq    uint64   `msgpack:"q,omitempty"` // the log's first position (header), a socket's seen
	Epoch  string   `msgpack:"e,omitempty"`
}

const (
	recHeader    = 'h' // Epoch, Seq: a journal's first record
	recBroadcast = 'b' // At, Nsp, Data, Rooms, Except, Skip, ID (when it came from elsewhere)
	recConnected = 'c' // PID, ID, Nsp, Who, Rooms, Seq
	recJoined    = 'j' // PID, Rooms
	recLeft      = 'l' // PID, Rooms
	recKept      = 'k' // PID, ID, Nsp, Who, Rooms, Seq, At
	recGone      = 'g' // PID: a socket gone and not kept, or a kept state taken or expired
)

// journal is the open journal file and the connected sockets as it knows them, which a
// rewrite needs (the shards own the rooms, and cannot be asked under the log's lock).
type journal struct {
	path string
	f    *os.File
	size int64 // the file's bytes
	base int64 // its bytes after the last rewrite
	live map[string]*record
	out  journalWriter
}

// journalSlack is what a journal may grow by before a rewrite, however little it describes.
const journalSlack = 64 << 10

// journalWriter frames records into one reused buffer: a record is one write.
type journalWriter struct {
	body  bytes.Buffer
	enc   *msgpack.Encoder
	frame []byte
}

// encode returns r framed as the journal holds it: its length, then r in msgpack. The
// bytes are good until the next call.
func (w *journalWriter) encode(r *record) ([]byte, error) {
	if w.enc == nil {
		w.enc = msgpack.NewEncoder(&w.body)
	}
	w.body.Reset()
	if err := w.enc.Encode(r); err != nil {
		return nil, err
	}
	w.frame = append(binary.AppendUvarint(w.frame[:0], uint64(w.body.Len())), w.body.Bytes()...)
	return w.frame, nil
}

// record appends r to the journal (callers hold mu). A journal that cannot be written is
// given up: recovery goes on in memory.
func (l *Log) record(r *record) {
	j := l.journal
	if j == nil {
		return
	}
	j.track(r)
	b, err := j.out.encode(r)
	if err == nil {
		_, err = j.f.Write(b)
	}
	if err != nil {
		log.Printf("edgeio: recovery journal %s: %v; recovery across a restart is off", j.path, err)
		_ = j.f.Close()
		l.journal = nil
		return
	}
	if j.size += int64(len(b)); j.size > 2*j.base+journalSlack {
		l.rewrite()
	}
}

// track keeps the connected sockets' rooms up to date with r.
func (j *journal) track(r *record) {
	switch r.Kind {
	case recConnected:
		c := *r
		c.Rooms = slices.Clone(r.Rooms)
		j.live[r.PID] = &c
	case recJoined, recLeft:
		c := j.live[r.PID]
		if c == nil {
			return
		}
		for _, room := range r.Rooms {
			i := slices.Index(c.Rooms, room)
			if r.Kind == recJoined && i < 0 {
				c.Rooms = append(c.Rooms, room)
			} else if r.Kind == recLeft && i >= 0 {
				c.Rooms = slices.Delete(c.Rooms, i, i+1)
			}
		}
	case recKept, recGone:
		delete(j.live, r.PID)
	}
}

// rewrite replaces the journal with one that describes the present: the log, the connected
// sockets and the kept states (callers hold mu).
func (l *Log) rewrite() {
	j := l.journal
	tmp := j.path + ".tmp"
	var size int64
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err == nil {
		w := bufio.NewWriter(f)
		put := func(r *record) {
			if err == nil {
				var b []byte
				if b, err = j.out.encode(r); err == nil {
					_, err = w.Write(b)
					size += int64(len(b))
				}
			}
		}
		put(&record{Kind: recHeader, Epoch: l.epoch, Seq: l.first})
		for i := range l.entries {
			put(l.entries[i].record())
		}
		for _, c := range j.live {
			put(c)
		}
		for pid, s := range l.kept {
			put(s.record(pid))
		}
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = os.Rename(tmp, j.path)
		}
	}
	if err != nil {
		log.Printf("edgeio: recovery journal %s: %v; recovery across a restart is off", j.path, err)
		if f != nil {
			_ = f.Close()
		}
		_ = j.f.Close()
		l.journal = nil
		return
	}
	_ = j.f.Close()
	j.f, j.size, j.base = f, size, size
}

// record is the journal's line for a logged broadcast.
func (e *entry) record() *record {
	return &record{Kind: recBroadcast, At: e.at.UnixMilli(), Nsp: e.nsp, Data: e.data, Rooms: e.rooms, Except: e.except,
		Skip: e.skip, ID: e.id}
}

// record is the journal's line for a kept state.
func (s *state) record(pid string) *record {
	return &record{Kind: recKept, PID: pid, ID: s.sid, Nsp: s.nsp, Who: s.who, Rooms: s.rooms, Seq: s.seen,
		At: s.expires.UnixMilli()}
}

// openJournal takes over what the previous process left in the journal at path, if
// anything, then starts a journal of its own there.
func (l *Log) openJournal(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.journal = &journal{path: path, live: make(map[string]*record)}
	if err := l.replayFile(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Printf("edgeio: recovery journal %s not used: %v", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Printf("edgeio: recovery journal %s: %v; recovery across a restart is off", path, err)
		l.journal = nil
		return
	}
	l.journal.f = f
	l.rewrite()
}

// replayFile reads the journal at path into the log and the kept states (callers hold mu).
func (l *Log) replayFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	// the last write: the previous process's sockets were cut off since
	started := time.Now()
	if err := l.replay(f, info.ModTime()); err != nil {
		return err
	}
	if len(l.kept) > 0 { // a start with nothing to recover says nothing
		log.Printf("edgeio: recovery journal: %d broadcasts and %d sessions from the previous process (%d KB kept of a %d KB journal, read in %v)",
			len(l.entries), len(l.kept), l.bytes>>10, info.Size()>>10, time.Since(started).Round(time.Millisecond))
	}
	return nil
}

// maxRecord bounds a record's length, so that a damaged journal cannot make the next
// process allocate without bound.
const maxRecord = 64 << 20

// readRecord reads the next record of a journal.
func readRecord(br *bufio.Reader, r *record) error {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	if n > maxRecord {
		return errors.New("record too long")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return err
	}
	// checked by the codec's decoder first, which allocates no more than the bytes justify
	if _, err := codec.DecodeMsgpackValue(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, r)
}

// replay reads a journal written until died (callers hold mu).
func (l *Log) replay(rd io.Reader, died time.Time) error {
	br := bufio.NewReader(rd)
	j := l.journal
	now := time.Now()
	for n := 0; ; n++ {
		var r record
		if err := readRecord(br, &r); err != nil {
			if n == 0 && !errors.Is(err, io.EOF) {
				return err
			}
			break // the end, or a last record cut short by the crash
		}
		if n == 0 {
			if r.Kind != recHeader || r.Seq == 0 || r.Epoch == "" {
				return errors.New("no header")
			}
		} else if r.Kind == recHeader {
			break // journals are not concatenated: what follows is not this one's
		}
		j.track(&r)
		switch r.Kind {
		case recHeader:
			l.epoch, l.first, l.entries, l.bytes = r.Epoch, r.Seq, l.entries[:0], 0
		case recBroadcast:
			if len(r.Data) == 0 {
				continue // not a broadcast this process wrote
			}
			// bounded as it is read: what the previous process had evicted since its last
			// rewrite goes again
			l.add(entry{at: time.UnixMilli(r.At), id: r.ID, nsp: r.Nsp, data: r.Data, rooms: r.Rooms,
				except: r.Except, skip: r.Skip}, now)
		case recKept:
			l.kept[r.PID] = &state{sid: r.ID, nsp: r.Nsp, who: r.Who, rooms: r.Rooms, seen: r.Seq, expires: time.UnixMilli(r.At)}
		case recGone:
			delete(l.kept, r.PID)
		}
	}
	// the sockets still connected when the process died: kept from then on
	for pid, c := range j.live {
		l.kept[pid] = &state{sid: c.ID, nsp: c.Nsp, who: c.Who, rooms: c.Rooms, seen: c.Seq, expires: died.Add(l.opts.Window)}
	}
	clear(j.live)
	for pid, s := range l.kept {
		if s.expires.After(now) {
			l.keep(pid, s)
		} else {
			delete(l.kept, pid)
		}
	}
	l.evict(now, 0)
	l.evicted = [evictReasons]uint64{} // evictions of the previous process's log, not this one's
	return nil
}

// Close syncs and closes the journal, once the server has stopped.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if j := l.journal; j != nil {
		_ = j.f.Sync()
		_ = j.f.Close()
		l.journal = nil
	}
}
