package recovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// big is a 50 KB room broadcast, as an edit of a message of 10,000 escaped ampersands is.
func big(i int) Broadcast {
	content := strings.Repeat("&amp;", 10_000)
	return Broadcast{Nsp: "/", Data: []any{"message-edited", map[string]any{"messageId": "m", "roomId": "r", "content": content, "n": float64(i)}},
		Rooms: []string{"/\x00r"}}
}

// The log holds at most MaxBytes of broadcasts, the oldest going first, and counts what it
// drops; a socket that missed a dropped one starts afresh, one that missed only kept ones
// recovers.
func TestLogIsBoundedInBytes(t *testing.T) {
	const maxBytes = 1 << 20
	l := New(Options{Window: time.Minute, MaxBytes: maxBytes})
	early, _ := connect(t, l, Claim{Nsp: "/"}, "s1", "/", "/\x00r")
	keep(t, l, early, "/", "/\x00r")
	var late *Member
	for i := range 100 {
		if i == 95 {
			late, _ = connect(t, l, Claim{Nsp: "/"}, "s2", "/", "/\x00r")
			keep(t, l, late, "/", "/\x00r")
		}
		l.Log(big(i), func(string) {})
		if st := l.Stats(); st.Bytes > maxBytes {
			t.Fatalf("after %d broadcasts of 50 KB: %d bytes in the log (bound %d)", i+1, st.Bytes, maxBytes)
		}
	}
	st := l.Stats()
	if st.Broadcasts < 15 || st.Broadcasts > 21 || st.EvictedBytes != uint64(100-st.Broadcasts) || st.EvictedPackets+st.EvictedOld != 0 {
		t.Fatalf("log of 100 broadcasts of 50 KB with a 1 MB bound: %+v", st)
	}
	if m, _ := connect(t, l, Claim{Nsp: "/", PID: early.PID()}, "s3"); m.Recovered() {
		t.Fatal("a socket that missed evicted broadcasts recovered")
	}
	m, missed := connect(t, l, Claim{Nsp: "/", PID: late.PID()}, "s4")
	if !m.Recovered() || len(missed) != 5 {
		t.Fatalf("a socket that missed the 5 last broadcasts: recovered %v, %d replayed", m.Recovered(), len(missed))
	}
}

// The journal stays within about twice the log's byte bound however much goes through it,
// and the next process reads it back within the bound, with the same broadcasts.
func TestJournalIsBoundedInBytes(t *testing.T) {
	const maxBytes = 1 << 20
	path := filepath.Join(t.TempDir(), "recovery.journal")
	o := Options{Window: time.Minute, MaxBytes: maxBytes, Journal: path}
	l := New(o)
	m, _ := connect(t, l, Claim{Nsp: "/"}, "s1", "/", "/\x00r")
	var largest int64
	for i := range 400 { // 20 MB of broadcasts
		l.Log(big(i), func(string) {})
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, info.Size())
	}
	if bound := int64(2*maxBytes + 2*journalSlack + 60_000); largest > bound {
		t.Fatalf("journal of %d bytes for a log of %d at most (bound %d)", largest, maxBytes, bound)
	}
	before := l.Stats()
	l.Close()
	t.Logf("20 MB through a log of 1 MB: a journal of %d KB at most, %d KB at the end", largest>>10, before.JournalBytes>>10)

	next := New(o)
	defer next.Close()
	after := next.Stats()
	if after.Broadcasts != before.Broadcasts || after.Bytes > maxBytes || after.Kept != 1 {
		t.Fatalf("read back %+v, from a log of %+v and one connected socket", after, before)
	}
	if back, missed := connect(t, next, Claim{Nsp: "/", PID: m.PID()}, "s2"); back.Recovered() {
		t.Fatalf("recovered with %d broadcasts replayed: it missed evicted ones", len(missed))
	}
}

// A journal larger than the bound (written by a process with a larger one, or by a version
// that had none) is read back within the bound.
func TestJournalLargerThanTheBoundIsReadWithinIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recovery.journal")
	l := New(Options{Window: time.Minute, MaxBytes: 64 << 20, Journal: path})
	// someone to log for, and 10 MB of broadcasts
	connect(t, l, Claim{Nsp: "/"}, "s1", "/", "/\x00r")
	for i := range 200 {
		l.Log(big(i), func(string) {})
	}
	l.Close()
	next := New(Options{Window: time.Minute, MaxBytes: 1 << 20, Journal: path})
	defer next.Close()
	if st := next.Stats(); st.Bytes > 1<<20 || st.Broadcasts == 0 || st.JournalBytes > 2<<20 {
		t.Fatalf("a 10 MB journal read with a 1 MB bound: %+v", st)
	}
}

// While no socket takes part in recovery nothing is logged: clients that do not track
// offsets cost the log nothing. From the first one that does, broadcasts are logged, and
// once it is gone for good (not kept) logging stops again.
func TestNothingIsLoggedForNobody(t *testing.T) {
	l := New(Options{Window: time.Minute})
	for i := range 10 {
		l.Log(big(i), func(string) {})
	}
	if st := l.Stats(); st.Broadcasts != 0 || st.Bytes != 0 {
		t.Fatalf("with no socket taking part: %+v", st)
	}
	m, _ := connect(t, l, Claim{Nsp: "/"}, "s1", "/", "/\x00r")
	l.Log(big(10), func(string) {})
	if st := l.Stats(); st.Broadcasts != 1 {
		t.Fatalf("with a socket taking part: %+v", st)
	}
	l.Forget(m)
	l.Log(big(11), func(string) {})
	if st := l.Stats(); st.Broadcasts != 1 {
		t.Fatalf("once it left for good: %+v", st)
	}
}
