package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// heapOf is what f allocates, in bytes per call over n calls (runtime.MemStats.TotalAlloc);
// what f returns is kept until the end, as decoded values are.
func heapOf(n int, f func(i int) any) float64 {
	keep := make([]any, n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = f(i)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestBudgetCostsMatchTheHeap holds budget.go's costs to what this Go allocates: never
// under 90% of it (an undercharged shape would let a packet hold more than its budget),
// never over twice.
func TestBudgetCostsMatchTheHeap(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's allocator is not the one the costs are measured on")
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	mapOf := func(n int) func(int) any {
		return func(int) any {
			m := make(map[string]any, n) // the decoders give maps their size
			for _, k := range keys[:n] {
				m[k] = nil
			}
			return m
		}
	}
	text := strings.Repeat("0123456789", 100)
	for _, c := range []struct {
		name  string
		model int
		n     int
		make  func(i int) any
	}{
		{"empty map", mapCost(0), 100000, mapOf(0)},
		{"map of 1", mapCost(1), 100000, mapOf(1)},
		{"map of 8", mapCost(8), 100000, mapOf(8)},
		{"map of 9", mapCost(9), 50000, mapOf(9)},
		{"map of 16", mapCost(16), 50000, mapOf(16)},
		{"map of 57", mapCost(57), 10000, mapOf(57)},
		{"map of 1000", mapCost(1000), 500, mapOf(1000)},
		{"[]any of 10", costSlice + 10*costSlot, 100000, func(int) any { return make([]any, 10) }},
		{"[]byte of 128", costSlice + 128, 100000, func(int) any { return make([]byte, 128) }},
		{"boxed number", costNumber, 100000, func(i int) any { return float64(i) + 1000.5 }},
		{"string", costString, 100000, func(i int) any { return text[i%900 : i%900+50] }},
	} {
		got := heapOf(c.n, c.make)
		t.Logf("%-14s model %6d B, heap %8.1f B", c.name, c.model, got)
		if float64(c.model) < 0.9*got || float64(c.model) > 2*got {
			t.Errorf("%s: budget.go charges %d bytes, the heap takes %.1f", c.name, c.model, got)
		}
	}
}

// str is a msgpack fixstr.
func mpStr(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }

// mpEvent is a msgpack EVENT packet as socket.io-msgpack-parser writes it, {type, data, nsp,
// id}, whose data is ["e", list] with list an array32 of n copies of elem.
func mpEvent(elem []byte, n int, id uint32) []byte {
	b := append([]byte{0x84}, mpStr("type")...)
	b = append(b, 2)
	b = append(b, mpStr("data")...)
	b = append(append(b, 0x92), mpStr("e")...)
	b = binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	b = append(b, bytes.Repeat(elem, n)...)
	b = append(append(b, mpStr("nsp")...), mpStr("/chat")...)
	return binary.BigEndian.AppendUint32(append(append(b, mpStr("id")...), 0xce), id)
}

// jsonEvent is the JSON parser's `2/chat,<id>["e",[elem,elem,...]]` with n elements.
func jsonEvent(elem string, n int, id int) []byte {
	return fmt.Appendf(nil, `2/chat,%d["e",[%s]]`, id, strings.TrimSuffix(strings.Repeat(elem+",", n), ","))
}

// decodeEither decodes a packet of either parser with the default budget.
func decodeEither(msgpack bool, b []byte) (*SPacket, error) {
	if msgpack {
		return DecodeMsgpack(b)
	}
	var d JSONDecoder
	return d.DecodeText(b)
}

// Just inside its budget a packet decodes; one value more and it is refused, with its
// namespace and ack id so that its sender can be told. The cost of each packet is worked
// out here from budget.go's model, not asked of the decoder.
func TestBudgetEdge(t *testing.T) {
	// data ["e", [elem, ...]]: the outer array and its two slots, the string, the inner
	// array, and per element its slot and its own cost; msgpack's header boxes its
	// namespace and its id; JSON's stack of array elements holds "e" and the elements, and
	// is charged where it doubles beyond maxScratch
	const mpData = costString + costNumber + costSlice + 2*costSlot + costString + costSlice
	const jsonData = costSlice + 2*costSlot + costString + costSlice
	jsonStack := func(n int) (c int) {
		for size := 2 * maxScratch; size/2 < 1+n; size *= 2 {
			c += size * costSlot
		}
		return c
	}
	for _, c := range []struct {
		name    string
		msgpack bool
		frame   func(n int) []byte
		cost    func(n int) int
	}{
		{"msgpack empty maps", true, func(n int) []byte { return mpEvent([]byte{0x80}, n, 7) },
			func(n int) int { return mpData + n*(costSlot+mapCost(0)) }},
		{"msgpack maps of one", true, func(n int) []byte { return mpEvent([]byte{0x81, 0xa1, 'k', 0xcd, 0x03, 0xe8}, n, 7) },
			func(n int) int { return mpData + n*(costSlot+mapCost(1)+costNumber) }},
		{"msgpack uint8s", true, func(n int) []byte { return mpEvent([]byte{0xcc, 0xc8}, n, 7) },
			func(n int) int { return mpData + n*(costSlot+costNumber) }},
		{"JSON empty maps", false, func(n int) []byte { return jsonEvent("{}", n, 7) },
			func(n int) int { return jsonData + jsonStack(n) + n*(costSlot+mapCost(0)) }},
		{"JSON maps of one", false, func(n int) []byte { return jsonEvent(`{"k":1000}`, n, 7) },
			func(n int) int { return jsonData + jsonStack(n) + n*(costSlot+mapCost(1)+costNumber) }},
		{"JSON small numbers", false, func(n int) []byte { return jsonEvent("1", n, 7) },
			func(n int) int { return jsonData + jsonStack(n) + n*costSlot }},
	} {
		within := func(n int) bool { return c.cost(n) <= budgetLimit(len(c.frame(n)), 0) }
		// the most elements whose cost is within the budget of their frame
		lo, hi := 1, 2
		for within(hi) {
			if lo, hi = hi, 2*hi; hi > 1<<20 {
				t.Fatalf("%s: costs no more than the budget at any size", c.name)
			}
		}
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; within(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		n := lo
		inside, past := c.frame(n), c.frame(n+1)
		p, err := decodeEither(c.msgpack, inside)
		if err != nil {
			t.Errorf("%s: %d elements, %d bytes, cost %d of %d: %v", c.name, n, len(inside), c.cost(n), budgetLimit(len(inside), 0), err)
			continue
		}
		if got := len(p.Data.([]any)[1].([]any)); got != n {
			t.Errorf("%s: decoded %d elements of %d", c.name, got, n)
		}
		_, err = decodeEither(c.msgpack, past)
		var over *BudgetError
		if !errors.As(err, &over) {
			t.Errorf("%s: %d elements, %d bytes, cost %d of %d: %v; want a BudgetError", c.name, n+1, len(past), c.cost(n+1), budgetLimit(len(past), 0), err)
			continue
		}
		want := BudgetError{Type: SEvent, Nsp: "/chat", ID: 7, Limit: budgetLimit(len(past), 0)}
		if c.msgpack && n+1 > headerWalk-16 { // too many values to pass over for the header
			want = BudgetError{ID: NoID, Limit: want.Limit}
		}
		if *over != want {
			t.Errorf("%s: %+v; want %+v", c.name, *over, want)
		}
		t.Logf("%-20s %6d elements in %7d bytes decode, %d do not", c.name, n, len(inside), n+1)
	}
}

// A msgpack client writes the ack id after the data: it is found by passing over the data,
// up to headerWalk values.
func TestBudgetHeaderWalk(t *testing.T) {
	for _, c := range []struct {
		values int
		want   BudgetError
	}{
		{headerWalk - 100, BudgetError{Type: SEvent, Nsp: "/chat", ID: 7, Limit: 1000}},
		{headerWalk + 100, BudgetError{ID: NoID, Limit: 1000}},
	} {
		_, err := decodeMsgpack(mpEvent([]byte{0x80}, c.values, 7), 1000, false)
		var over *BudgetError
		if !errors.As(err, &over) || *over != c.want {
			t.Errorf("%d values: %v (%+v); want %+v", c.values, err, over, c.want)
		}
	}
}

// chatTraffic is what chat clients send, at its largest: the budget must pass all of it.
func chatTraffic() map[string]*SPacket {
	ids := make([]any, 500)
	for i := range ids {
		ids[i] = fmt.Sprintf("01HMZ6V3J5X9Q2K7T8W4R1%04d", i)
	}
	atts := make([]any, 10)
	for i := range atts {
		atts[i] = map[string]any{"name": fmt.Sprintf("photo-%d.jpg", i), "type": "image/jpeg", "data": bytes.Repeat([]byte{byte(i)}, 95_000)}
	}
	nested := map[string]any{"roomId": "general", "content": "see the thread", "meta": map[string]any{
		"thread":   map[string]any{"parent": map[string]any{"id": "01HMZ6V3J5X9Q2K7T8W4R1N0PB", "depth": 3.0}},
		"mentions": []any{map[string]any{"userId": "u1", "at": 0.0}, map[string]any{"userId": "u2", "at": 12.0}},
		"client":   map[string]any{"app": "web", "version": "1.2.3", "features": []any{"a", "b", "c"}},
	}}
	reactions := make([]any, 200)
	for i := range reactions {
		reactions[i] = map[string]any{"emoji": "👍", "users": []any{"u1", "u2"}, "count": float64(i)}
	}
	event := func(args ...any) *SPacket { return &SPacket{Type: SEvent, Nsp: "/", ID: 12, Data: args} }
	return map[string]*SPacket{
		"mark-as-read, 500 ids":   event("mark-as-read", map[string]any{"roomId": "general", "messageIds": ids}),
		"10,000 characters":       event("send-message", map[string]any{"roomId": "general", "content": strings.Repeat("héllo wörld ", 834)[:10000]}),
		"10 attachments of 95 KB": event("send-message", map[string]any{"roomId": "general", "content": "files", "attachments": atts}),
		"nested objects":          event("send-message", nested),
		"200 small objects":       event("custom", map[string]any{"reactions": reactions}),
		"a chat message":          chatPacket(),
	}
}

func TestBudgetPassesChatTraffic(t *testing.T) {
	for name, p := range chatTraffic() {
		wire, err := EncodeMsgpack(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMsgpack(wire); err != nil {
			t.Errorf("%s, msgpack (%d bytes): %v", name, len(wire), err)
		}
		text, atts, err := EncodeJSON(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		var d JSONDecoder
		got, err := d.DecodeText(text)
		for i := 0; err == nil && got == nil && i < len(atts); i++ {
			got, err = d.DecodeBinary(atts[i])
		}
		if err != nil || got == nil {
			t.Errorf("%s, JSON (%d bytes and %d attachments): %v", name, len(text), len(atts), err)
		}
	}
}

// hostileFrame is a packet near the default --max-payload whose values are containers of a
// byte or three, or bare scalars: over the default budget.
type hostileFrame struct {
	name    string
	msgpack bool
	frame   []byte
	// measured: refused by its measure, before anything is built; the others (JSON's
	// arrays of tiny scalars, whose scratch stack the measure does not count) are refused
	// while they are built
	measured bool
}

func hostileFrames() []hostileFrame {
	const size = 1_000_000
	fixarrays := append([]byte{0x9f}, bytes.Repeat([]byte{0x80}, 15)...) // [{} x 15]
	deep := append(bytes.Repeat([]byte("["), 5000), bytes.Repeat([]byte("]"), 5000)...)
	return []hostileFrame{
		{"msgpack empty maps", true, mpEvent([]byte{0x80}, size-64, 1), true},
		{"msgpack arrays of empty maps", true, mpEvent(fixarrays, (size-64)/16, 1), true},
		{"msgpack maps of one nil", true, mpEvent([]byte{0x81, 0xa0, 0xc0}, (size-64)/3, 1), true},
		{"msgpack empty arrays", true, mpEvent([]byte{0x90}, size-64, 1), true},
		{"msgpack nils", true, mpEvent([]byte{0xc0}, size-64, 1), true},
		{"JSON empty maps", false, jsonEvent("{}", (size-64)/3, 1), true},
		{"JSON empty arrays", false, jsonEvent("[]", (size-64)/3, 1), true},
		{"JSON maps of one", false, jsonEvent(`{"":0}`, (size-64)/7, 1), true},
		{"JSON nested arrays", false, jsonEvent(string(deep), (size-64)/len(deep), 1), true},
		{"JSON zeros", false, jsonEvent("0", (size-64)/2, 1), false},
	}
}

// TestBudgetBoundsTheHeap decodes each hostile frame: it is refused, and what its decoding
// allocated stays within its budget and one copy of the frame (JSON's text); a frame its
// measure refuses allocates nothing.
func TestBudgetBoundsTheHeap(t *testing.T) {
	for _, h := range hostileFrames() {
		var err error
		heap := heapOf(1, func(int) any { _, err = decodeEither(h.msgpack, h.frame); return nil })
		limit := budgetLimit(len(h.frame), 0)
		t.Logf("%-30s %7d bytes: refused after %8.0f bytes of heap (budget %d)", h.name, len(h.frame), heap, limit)
		var over *BudgetError
		if !errors.As(err, &over) {
			t.Errorf("%s: %v; want a BudgetError", h.name, err)
		}
		bound := limit + len(h.frame) // and a copy of the text
		if h.measured {
			bound = 0
		}
		if heap > float64(bound+32<<10) { // pages, and the error
			t.Errorf("%s: decoding allocated %.0f bytes, over %d", h.name, heap, bound)
		}
	}
}

// unbudgeted decodes as the decoders did before the budget.
func unbudgeted(msgpack bool, b []byte) (*SPacket, error) {
	if msgpack {
		return decodeMsgpack(b, math.MaxInt, false)
	}
	p, _, err := decodeJSONPacket(b, math.MaxInt)
	return p, err
}

// treeCost is the least a decoded tree costs in budget.go's model (JSON's scratch stack and
// the strings it unescapes aside): a decoder that passes a tree must have charged this much.
func treeCost(v any) int {
	switch v := v.(type) {
	case string:
		return costString
	case float64:
		if v >= 0 && v < 256 && v == math.Trunc(v) && !math.Signbit(v) {
			return 0
		}
		return costNumber
	case []byte:
		return costSlice + len(v)
	case []any:
		n := costSlice + costSlot*len(v)
		for _, x := range v {
			n += treeCost(x)
		}
		return n
	case map[string]any:
		n := mapCost(len(v))
		for _, x := range v {
			n += treeCost(x)
		}
		return n
	}
	return 0
}

// FuzzDecodeBudget decodes with any budget: a packet within it decodes as it would without
// one, and costs no more than the budget; a packet over it is refused with the namespace and
// ack id its unbudgeted decoding finds, and stays refused with any smaller budget.
func FuzzDecodeBudget(f *testing.F) {
	f.Add(false, []byte(`2/chat,7["e",[{},{},{"a":[1,2,"x"]}]]`), uint16(300))
	f.Add(false, []byte(`2["e","\u00e9\ud83d\ude00",-0,1e3,[[[]]]]`), uint16(100))
	f.Add(true, mpEvent([]byte{0x80}, 20, 9), uint16(400))
	f.Add(true, mpEvent([]byte{0x81, 0xa1, 'k', 0xcb, 1, 2, 3, 4, 5, 6, 7, 8}, 3, 9), uint16(1200))
	f.Add(true, unhex(f, mp(2, "92a161d7000000000000000000")), uint16(50))
	f.Add(true, unhex(f, mp(2, "92a161c70301010203")), uint16(100))
	f.Fuzz(func(t *testing.T, msgpack bool, b []byte, limit16 uint16) {
		limit := int(limit16)
		decode := func(limit int) (*SPacket, error) {
			if msgpack {
				return decodeMsgpack(b, limit, false)
			}
			p, _, err := decodeJSONPacket(b, limit)
			return p, err
		}
		want, wantErr := unbudgeted(msgpack, b)
		got, err := decode(limit)
		var over *BudgetError
		switch {
		case err == nil:
			if wantErr != nil || !spktEqual(got, want) {
				t.Fatalf("within the budget %d: %+v; without a budget %+v, %v", limit, got, want, wantErr)
			}
			if c := treeCost(got.Data); c > limit {
				t.Fatalf("passed a tree costing %d with a budget of %d: %+v", c, limit, got)
			}
		case errors.As(err, &over):
			if over.Limit != limit {
				t.Fatalf("BudgetError.Limit %d, budget %d", over.Limit, limit)
			}
			// JSON's header comes before its data; msgpack's is read again, within the budget
			header := !msgpack || over.ID != NoID
			if wantErr == nil && header && (over.Type != want.Type || over.Nsp != want.Nsp || over.ID != want.ID) {
				t.Fatalf("BudgetError %+v for packet %+v", over, want)
			}
			if limit > 0 {
				if _, err := decode(limit - 1); err == nil {
					t.Fatalf("refused with a budget of %d, passed with %d", limit, limit-1)
				}
			}
		default:
			if wantErr == nil {
				t.Fatalf("budget %d: %v; without a budget it decodes: %+v", limit, err, want)
			}
		}
		// A measure charges no more than building: what it refuses, building refuses (or
		// finds malformed, as it checks more). For JSON, b is taken as a bare value.
		var measured, built error
		if msgpack {
			r := mpReader{b: b, left: limit}
			_, _, _, _, measured = r.packet(measureData)
			r = mpReader{b: b, left: limit}
			_, _, _, _, built = r.packet(buildData)
		} else {
			measured = measureJSON(string(b), 0, limit)
			_, built = parseJSON(string(b), 0, limit)
		}
		if measured == errOverBudget && built == nil {
			t.Fatalf("budget %d: the measure refused, building passed", limit)
		}
	})
}

// A run of empty containers spends its budget far faster than it reads its bytes: it is
// refused some kilobytes in, not once its whole budget is spent, so that a flood of
// megabyte frames of them costs a read each rather than a walk over a million values.
func TestBudgetRefusesARunOfContainersEarly(t *testing.T) {
	const n = 1 << 20
	mp := mpEvent([]byte{0x80}, n, 7)
	r := mpReader{b: mp, left: budgetLimit(len(mp), 0), limit: budgetLimit(len(mp), 0)}
	if _, _, _, _, err := r.packet(measureData); err != errOverBudget || r.i > 64<<10 {
		t.Fatalf("msgpack: %d empty maps refused at byte %d (%v); want within 64 KiB", n, r.i, err)
	}
	js := string(jsonEvent("{}", n, 7))
	p := &jsonParser{s: js, i: strings.IndexByte(js, '['), left: budgetLimit(len(js), 0), limit: budgetLimit(len(js), 0), measure: true}
	if _, err := p.value(); err != errOverBudget || p.i > 64<<10 {
		t.Fatalf("JSON: %d empty objects refused at byte %d (%v); want within 64 KiB", n, p.i, err)
	}
	// while a packet whose cost comes first and is paid for by what follows passes: a
	// large object, then a long string
	big := make(map[string]any, 1000)
	for i := range 1000 {
		big[fmt.Sprint(i)] = i
	}
	frame, err := EncodeMsgpack(nil, &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: []any{"e", big, strings.Repeat("x", 200_000)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeMsgpack(frame); err != nil {
		t.Fatalf("a map of 1,000 entries then 200 KB of text: %v", err)
	}
	// and a large binary attachment, whose copy its own bytes pay for
	frame, err = EncodeMsgpack(nil, &SPacket{Type: SEvent, Nsp: "/", ID: 3, Data: []any{"e", map[string]any{"data": make([]byte, 900_000)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeMsgpack(frame); err != nil {
		t.Fatalf("900 KB of inline binary: %v", err)
	}
}
