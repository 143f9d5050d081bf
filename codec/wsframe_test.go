package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"edgeio/codec/codectest"

	"github.com/klauspost/compress/flate"
)

var maskedFrame = codectest.MaskedFrame

type wsEvent struct {
	op         byte
	payload    string
	compressed bool
}

// feedAll feeds stream in chunks of the given size and collects what is emitted. Each
// chunk is overwritten once fed, as a reader's buffer is: a payload emitted as owned must
// not change after it (nor may one emitted as not owned be kept, which feedAll does not).
func feedAll(d *WSDecoder, stream []byte, chunk int) ([]wsEvent, error) {
	var got []wsEvent
	var owned [][]byte
	var ownedText []string
	emit := func(op byte, p []byte, c, own bool) error {
		got = append(got, wsEvent{op, string(p), c})
		if own {
			owned, ownedText = append(owned, p), append(ownedText, string(p))
		}
		return nil
	}
	stream = append([]byte(nil), stream...)
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		err := d.Feed(stream[:n], emit)
		for i := range stream[:n] {
			stream[i] = 0xee
		}
		if err != nil {
			return got, err
		}
		stream = stream[n:]
	}
	for i, p := range owned {
		if string(p) != ownedText[i] {
			return got, fmt.Errorf("an owned payload changed after it was emitted: %q, was %q", p, ownedText[i])
		}
	}
	return got, nil
}

func TestWSDecoderMessagesWhateverTheReads(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("x"), 70000)
	mid := bytes.Repeat([]byte("y"), 300)
	var stream []byte
	stream = append(stream, maskedFrame(0x81, []byte("42[\"hi\"]"), key)...)
	stream = append(stream, maskedFrame(0x82, mid, key)...)
	stream = append(stream, maskedFrame(0x01, []byte("frag"), key)...) // text, not final
	stream = append(stream, maskedFrame(0x89, []byte("ping"), key)...) // control in between
	stream = append(stream, maskedFrame(0x80, []byte("mented"), key)...)
	stream = append(stream, maskedFrame(0x82, big, key)...)
	stream = append(stream, maskedFrame(0x88, []byte{3, 232}, key)...)
	want := []wsEvent{
		{WSText, "42[\"hi\"]", false},
		{WSBinary, string(mid), false},
		{WSPing, "ping", false},
		{WSText, "fragmented", false},
		{WSBinary, string(big), false},
		{WSClose, "\x03\xe8", false},
	}
	for _, chunk := range []int{1, 2, 3, 7, 13, 64, 4096, len(stream)} {
		got, err := feedAll(&WSDecoder{MaxMessage: 100000}, stream, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunk %d: got %d events, want %d", chunk, len(got), len(want))
		}
	}
}

func TestWSDecoderKeepsNothingBetweenWholeFrames(t *testing.T) {
	d := &WSDecoder{}
	f := maskedFrame(0x81, []byte("40"), [4]byte{9, 9, 9, 9})
	if _, err := feedAll(d, f[:3], 3); err != nil || d.Buffered() != 3 {
		t.Fatalf("after a partial frame: buffered %d, %v", d.Buffered(), err)
	}
	if got, err := feedAll(d, f[3:], 100); err != nil || len(got) != 1 || d.Buffered() != 0 || d.partial != nil {
		t.Fatalf("after the rest: %v, buffered %d, %v", got, d.Buffered(), err)
	}
}

func TestWSDecoderRejects(t *testing.T) {
	key := [4]byte{5, 6, 7, 8}
	unmasked := maskedFrame(0x81, []byte("hi"), key)
	unmasked[1] &^= 0x80
	cases := []struct {
		name    string
		stream  []byte
		deflate bool
		want    error
	}{
		{"unmasked", unmasked, false, ErrWSProtocol},
		{"rsv2", maskedFrame(0xA1, []byte("a"), key), false, ErrWSProtocol},
		{"rsv1 without deflate", maskedFrame(0xC1, []byte("a"), key), false, ErrWSProtocol},
		{"rsv1 on a control frame", maskedFrame(0xC9, nil, key), true, ErrWSProtocol},
		{"reserved opcode", maskedFrame(0x83, nil, key), false, ErrWSProtocol},
		{"fragmented control", maskedFrame(0x09, nil, key), false, ErrWSProtocol},
		{"long control", maskedFrame(0x89, make([]byte, 126), key), false, ErrWSProtocol},
		{"continuation first", maskedFrame(0x80, []byte("a"), key), false, ErrWSProtocol},
		{"message in a message", append(maskedFrame(0x01, []byte("a"), key), maskedFrame(0x81, []byte("b"), key)...), false, ErrWSProtocol},
		{"too large", maskedFrame(0x82, make([]byte, 1001), key), false, ErrWSTooLarge},
		{"too large in fragments", append(maskedFrame(0x02, make([]byte, 600), key), maskedFrame(0x80, make([]byte, 600), key)...), false, ErrWSTooLarge},
		{"64-bit length with the top bit", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, false, ErrWSProtocol},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 1 << 20} {
			_, err := feedAll(&WSDecoder{MaxMessage: 1000, Deflate: c.deflate}, c.stream, chunk)
			if !errors.Is(err, c.want) {
				t.Errorf("%s (chunk %d): got %v, want %v", c.name, chunk, err, c.want)
			}
		}
	}
	// RSV1 is accepted on a data frame once deflate is negotiated
	got, err := feedAll(&WSDecoder{Deflate: true}, maskedFrame(0xC1, []byte("z"), key), 1)
	if err != nil || len(got) != 1 || !got[0].compressed {
		t.Fatalf("compressed frame: %v, %v", got, err)
	}
}

// FuzzWSDecoder: no input panics the decoder, and how the bytes are split across reads
// changes nothing about what it emits or rejects.
func FuzzWSDecoder(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(maskedFrame(0x81, []byte("42[\"a\"]"), key), uint8(3))
	f.Add(append(maskedFrame(0x01, []byte("a"), key), maskedFrame(0x80, []byte("b"), key)...), uint8(1))
	f.Add(maskedFrame(0x82, make([]byte, 200), key), uint8(5))
	f.Add([]byte{0x81, 0xfe, 0, 2, 0, 0, 0, 0, 'h', 'i'}, uint8(2))
	f.Add([]byte{0x81, 0x02, 'h', 'i', 0x82, 0x7e, 0, 1, 7}, uint8(0x81)) // from a server
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		fromServer := chunk&0x80 != 0
		chunk &= 0x7f
		// half the time with buffers of its own for frames split across reads
		var alloc func(int) []byte
		if chunk&0x40 != 0 {
			alloc = func(n int) []byte { return make([]byte, 0, n+7) }
		}
		chunk &= 0x3f
		whole, errWhole := feedAll(&WSDecoder{MaxMessage: 4096, Deflate: true, FromServer: fromServer, Alloc: alloc}, stream, len(stream)+1)
		split, errSplit := feedAll(&WSDecoder{MaxMessage: 4096, Deflate: true, FromServer: fromServer, Alloc: alloc}, stream, int(chunk)+1)
		if fmt.Sprint(whole) != fmt.Sprint(split) || (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v %v; split by %d: %v %v", whole, errWhole, int(chunk)+1, split, errSplit)
		}
	})
}

func TestWSDecoderOfAClientReadsUnmaskedFrames(t *testing.T) {
	stream := []byte{0x81, 0x02, 'h', 'i', 0x82, 0x7e, 0x00, 0x01, 7}
	got, err := feedAll(&WSDecoder{FromServer: true}, stream, 1)
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]wsEvent{{WSText, "hi", false}, {WSBinary, "\x07", false}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := feedAll(&WSDecoder{FromServer: true}, maskedFrame(0x81, []byte("x"), [4]byte{1, 2, 3, 4}), 9); !errors.Is(err, ErrWSProtocol) {
		t.Fatalf("a masked frame from a server: %v", err)
	}
}

func TestWSInflate(t *testing.T) {
	text := strings.Repeat("a message that compresses well; ", 100)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write([]byte(text))
	_ = w.Flush()
	wire := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff}) // as RFC 7692 sends it
	for range 3 {                                                   // the pooled reader is reused
		out, err := WSInflate(wire, len(text))
		if err != nil || string(out) != text {
			t.Fatalf("inflate: %d bytes, %v", len(out), err)
		}
	}
	if _, err := WSInflate(wire, len(text)-1); !errors.Is(err, ErrWSTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := WSInflate([]byte{0xff, 0xff, 0xff}, 100); err == nil {
		t.Fatal("garbage inflated")
	}
}

// FuzzWSInflate: no input panics it or yields more than the limit.
func FuzzWSInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x04, 0x00})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		out, err := WSInflate(p, 1024)
		if err == nil && len(out) > 1024 {
			t.Fatalf("%d bytes past the limit", len(out))
		}
	})
}
