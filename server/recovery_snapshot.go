package server

import (
	"errors"
	"io/fs"
	"log"
	"os"
	"time"

	"edgeio/codec"

	"github.com/vmihailenco/msgpack/v5"
)

// The recovery snapshot carries the log and the saved states across a graceful restart:
// the draining process writes it once its sessions are gone, the next one reads it when it
// starts and removes it. Offsets keep their meaning: the next process goes on with the same
// epoch and sequence.

type snapshotFile struct {
	Epoch    string            `msgpack:"e"`
	First    uint64            `msgpack:"f"`
	Entries  []snapshotEntry   `msgpack:"l"`
	Sessions []snapshotSession `msgpack:"s"`
}

type snapshotEntry struct {
	At     int64    `msgpack:"t"` // unix ms
	Nsp    string   `msgpack:"n"`
	Data   []any    `msgpack:"d"` // the event and its arguments
	Rooms  []string `msgpack:"r"`
	Except []string `msgpack:"x"`
	Skip   string   `msgpack:"k"`
}

type snapshotSession struct {
	PID     string   `msgpack:"p"`
	SID     string   `msgpack:"i"`
	Nsp     string   `msgpack:"n"`
	Who     string   `msgpack:"w"`
	Rooms   []string `msgpack:"r"`
	Seen    uint64   `msgpack:"s"`
	Expires int64    `msgpack:"e"` // unix ms
}

// writeSnapshot waits (until deadline) for the saves of the sockets just closed, then
// writes the log and the saved states to the snapshot file.
func (l *recoveryLog) writeSnapshot(deadline <-chan struct{}) error {
	saved := make(chan struct{})
	go func() { l.saving.Wait(); close(saved) }()
	select {
	case <-saved:
	case <-deadline:
		return errors.New("recovery snapshot: sockets still being saved")
	}
	l.mu.Lock()
	snap := snapshotFile{Epoch: l.epoch, First: l.first, Entries: make([]snapshotEntry, 0, len(l.entries))}
	for _, e := range l.entries {
		snap.Entries = append(snap.Entries, snapshotEntry{
			At: e.at.UnixMilli(), Nsp: e.frame.pkt.Nsp, Data: e.frame.pkt.Data.([]any),
			Rooms: e.rooms, Except: e.except, Skip: e.skip,
		})
	}
	for pid, s := range l.sessions {
		snap.Sessions = append(snap.Sessions, snapshotSession{
			PID: pid, SID: s.sid, Nsp: s.nsp, Who: s.who, Rooms: s.rooms, Seen: s.seen, Expires: s.expires.UnixMilli(),
		})
	}
	l.mu.Unlock()
	b, err := msgpack.Marshal(&snap)
	if err != nil {
		return err
	}
	tmp := l.opts.Snapshot + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.opts.Snapshot)
}

// loadSnapshot takes over what the previous process left, if anything; the file is removed
// whether it could be read or not (it describes sessions of that process alone).
func (l *recoveryLog) loadSnapshot(srv *Server) {
	b, err := os.ReadFile(l.opts.Snapshot)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	_ = os.Remove(l.opts.Snapshot)
	var snap snapshotFile
	if err == nil {
		err = msgpack.Unmarshal(b, &snap)
	}
	if err != nil || snap.Epoch == "" || snap.First == 0 {
		log.Printf("edgeio: recovery snapshot %s not used: %v", l.opts.Snapshot, err)
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch, l.first, l.entries = snap.Epoch, snap.First, l.entries[:0]
	for i, e := range snap.Entries {
		f := &outFrame{
			pkt:    codec.SPacket{Type: codec.SEvent, Nsp: e.Nsp, ID: codec.NoID, Data: e.Data},
			offset: l.offset(snap.First + uint64(i)), metrics: srv.metrics, stats: srv.opts.Engine.Stats, started: now,
		}
		l.entries = append(l.entries, logEntry{at: time.UnixMilli(e.At), frame: f, rooms: e.Rooms, except: e.Except, skip: e.Skip})
	}
	l.evict(now)
	for _, s := range snap.Sessions {
		if exp := time.UnixMilli(s.Expires); exp.After(now) {
			l.keep(s.PID, &savedSession{sid: s.SID, nsp: s.Nsp, who: s.Who, rooms: s.Rooms, seen: s.Seen, expires: exp})
		}
	}
	log.Printf("edgeio: recovery snapshot: %d broadcasts and %d sessions from the previous process", len(l.entries), len(l.sessions))
}
