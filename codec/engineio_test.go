package codec

import (
	"bytes"
	"errors"
	"testing"
)

func pktEqual(a, b EPacket) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func pktsEqual(a, b []EPacket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !pktEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func msg(s string) EPacket          { return EPacket{Type: EMessage, Data: []byte(s)} }
func binMsg(b ...byte) EPacket      { return EPacket{Type: EMessage, Data: b, Binary: true} }
func ctl(t EType, s string) EPacket { return EPacket{Type: t, Data: []byte(s)} }

// Examples of the Engine.IO v4 protocol document.
var textCases = []struct {
	wire string
	pkt  EPacket
}{
	{"4hello", msg("hello")},
	{"4€", msg("€")},
	{`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`,
		ctl(EOpen, `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`)},
	{"1", ctl(EClose, "")},
	{"2", ctl(EPing, "")},
	{"2probe", ctl(EPing, "probe")},
	{"3probe", ctl(EPong, "probe")},
	{"5", ctl(EUpgrade, "")},
	{"6", ctl(ENoop, "")},
	{"4", msg("")},
	{"bAQIDBA==", binMsg(1, 2, 3, 4)},
	{"b", EPacket{Type: EMessage, Binary: true}},
}

func TestDecodeText(t *testing.T) {
	for _, c := range textCases {
		for name, decode := range map[string]func([]byte) (EPacket, error){"DecodeText": DecodeText, "ParseText": ParseText} {
			got, err := decode([]byte(c.wire))
			if err != nil || !pktEqual(got, c.pkt) {
				t.Errorf("%s(%q) = %+v, %v; want %+v", name, c.wire, got, err, c.pkt)
			}
		}
		if got := AppendText(nil, c.pkt); string(got) != c.wire {
			t.Errorf("AppendText(%+v) = %q; want %q", c.pkt, got, c.wire)
		}
	}
}

func TestDecodeTextCopies(t *testing.T) {
	in := []byte("4hello")
	p, _ := DecodeText(in)
	copy(in, "4HELLO")
	if string(p.Data) != "hello" {
		t.Fatalf("DecodeText retained its input: %q", p.Data)
	}
	in = []byte("4hello")
	p, _ = ParseText(in)
	copy(in, "4HELLO")
	if string(p.Data) != "HELLO" {
		t.Fatalf("ParseText should alias its input: %q", p.Data)
	}
}

func TestDecodeTextErrors(t *testing.T) {
	for _, c := range []struct {
		wire string
		err  error
	}{
		{"", ErrEmptyPacket},
		{"7", ErrBadPacketType},
		{"x", ErrBadPacketType},
		{"/", ErrBadPacketType},
		{"b!!!", ErrBadPayload},
		{"bAQ", ErrBadPayload},
	} {
		for _, decode := range []func([]byte) (EPacket, error){DecodeText, ParseText} {
			if _, err := decode([]byte(c.wire)); !errors.Is(err, c.err) {
				t.Errorf("decode(%q) error = %v; want %v", c.wire, err, c.err)
			}
		}
	}
}

func TestBinaryV3(t *testing.T) {
	// engine.io-parser 2.x: a binary message frame is the type byte then the data.
	wire := []byte{4, 1, 2, 3}
	p, err := DecodeBinaryV3(wire)
	if err != nil || !pktEqual(p, binMsg(1, 2, 3)) {
		t.Fatalf("DecodeBinaryV3 = %+v, %v", p, err)
	}
	wire[1] = 9
	if p.Data[0] != 1 {
		t.Fatal("DecodeBinaryV3 retained its input")
	}
	if got := AppendBinaryV3(nil, binMsg(1, 2, 3)); !bytes.Equal(got, []byte{4, 1, 2, 3}) {
		t.Fatalf("AppendBinaryV3 = %x", got)
	}
	if _, err := DecodeBinaryV3(nil); !errors.Is(err, ErrEmptyPacket) {
		t.Errorf("empty: %v", err)
	}
	if _, err := DecodeBinaryV3([]byte{7}); !errors.Is(err, ErrBadPacketType) {
		t.Errorf("type 7: %v", err)
	}
	if p, err := DecodeBinaryV3([]byte{4}); err != nil || len(p.Data) != 0 || !p.Binary {
		t.Errorf("empty message: %+v, %v", p, err)
	}
}

// Vectors produced by engine.io-parser 5.x (protocol v4).
var v4PayloadCases = []struct {
	wire string
	pkts []EPacket
}{
	{"4hello\x1e4€", []EPacket{msg("hello"), msg("€")}},
	{"4€\x1ebAQIDBA==", []EPacket{msg("€"), binMsg(1, 2, 3, 4)}},
	{"2", []EPacket{ctl(EPing, "")}},
	{"6\x1e4\x1eb", []EPacket{ctl(ENoop, ""), msg(""), {Type: EMessage, Binary: true}}},
}

func TestV4Payload(t *testing.T) {
	for _, c := range v4PayloadCases {
		got, err := DecodeV4Payload([]byte(c.wire))
		if err != nil || !pktsEqual(got, c.pkts) {
			t.Errorf("DecodeV4Payload(%q) = %+v, %v; want %+v", c.wire, got, err, c.pkts)
		}
		if enc := AppendV4Payload([]byte("x"), c.pkts); string(enc) != "x"+c.wire {
			t.Errorf("AppendV4Payload(%+v) = %q; want %q", c.pkts, enc, c.wire)
		}
	}
	if enc := AppendV4Payload(nil, nil); len(enc) != 0 {
		t.Errorf("empty payload = %q", enc)
	}
}

func TestV4PayloadSharesNoInput(t *testing.T) {
	in := []byte("4hello\x1e4world")
	pkts, _ := DecodeV4Payload(in)
	for i := range in {
		in[i] = 'z'
	}
	if string(pkts[0].Data) != "hello" || string(pkts[1].Data) != "world" {
		t.Fatalf("payload retained its input: %q %q", pkts[0].Data, pkts[1].Data)
	}
	// Data slices are capped: appending to one must not clobber the next.
	_ = append(pkts[0].Data, '!')
	if string(pkts[1].Data) != "world" {
		t.Fatalf("append clobbered a neighbour: %q", pkts[1].Data)
	}
}

func TestV4PayloadErrors(t *testing.T) {
	for _, c := range []struct {
		wire string
		err  error
	}{
		{"", ErrBadPayload},
		{"4a\x1e", ErrEmptyPacket},
		{"\x1e4a", ErrEmptyPacket},
		{"4a\x1e9", ErrBadPacketType},
		{"4a\x1eb$$", ErrBadPayload},
	} {
		if _, err := DecodeV4Payload([]byte(c.wire)); !errors.Is(err, c.err) {
			t.Errorf("DecodeV4Payload(%q) error = %v; want %v", c.wire, err, c.err)
		}
	}
}

// The packet-at-a-time decoders hand over the packets before a malformed one, and stop
// when told to.
func TestEachPacketStopsWhereTold(t *testing.T) {
	for _, c := range []struct {
		name string
		each func(func(EPacket) bool) error
		err  error
	}{
		{"v4", func(fn func(EPacket) bool) error { return EachV4Packet([]byte("2\x1e4a\x1e2\x1e9"), fn) }, ErrBadPacketType},
		{"v3", func(fn func(EPacket) bool) error { return EachV3Packet([]byte("1:22:4a1:21:9"), false, fn) }, ErrBadPacketType},
		{"v3 binary", func(fn func(EPacket) bool) error {
			return EachV3Packet([]byte("\x00\x01\xff2\x00\x02\xff4a\x00\x01\xff2\x02"), true, fn)
		}, ErrBadPayload},
	} {
		var seen []EPacket
		if err := c.each(func(p EPacket) bool { seen = append(seen, p); return true }); !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		}
		if want := []EPacket{ctl(EPing, ""), msg("a"), ctl(EPing, "")}; !pktsEqual(seen, want) {
			t.Errorf("%s: saw %+v before the error, want %+v", c.name, seen, want)
		}
		seen = nil
		if err := c.each(func(p EPacket) bool { seen = append(seen, p); return len(seen) < 2 }); err != nil || len(seen) != 2 {
			t.Errorf("%s: told to stop at the second packet, saw %d (error %v)", c.name, len(seen), err)
		}
	}
}
