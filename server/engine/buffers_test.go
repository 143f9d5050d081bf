package engine

import "testing"

// A large message's buffer comes back for the next one, also as the payload after its
// frame's header; every buffer has room for what it was asked.
func TestBuffersAreReused(t *testing.T) {
	for _, n := range []int{0, 14, 1 << 16, 1<<16 + 1, 1_000_014, 1 << 20, 1<<24 + 1} {
		if b := getBuffer(n); len(b) != 0 || cap(b) < n {
			t.Fatalf("getBuffer(%d): len %d, cap %d", n, len(b), cap(b))
		}
	}
	reused := false
	for range 20 { // the race detector's pools drop some of what they are given
		b := getBuffer(1_000_014)
		b = append(b, make([]byte, 1_000_014)...)
		payload := b[14:]
		putBuffer(payload)
		if again := getBuffer(1_000_014); cap(again) >= 1_000_014 && &again[:1][0] == &payload[:1][0] {
			reused = true
			break
		}
	}
	if !reused {
		t.Fatal("a large buffer given back was never handed out again")
	}
}
