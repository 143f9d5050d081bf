package codec

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors produced by engine.io-parser 2.x (protocol v3).
var v3StringCases = []struct {
	wire string
	pkts []EPacket
}{
	{"6:4hello2:4€", []EPacket{msg("hello"), msg("€")}},
	{"2:4€10:b4AQIDBA==", []EPacket{msg("€"), binMsg(1, 2, 3, 4)}},
	// The length counts UTF-16 code units: 😀 is two.
	{"4:4😀a", []EPacket{msg("😀a")}},
	{"13:4xxxxxxxxxxxx6:2probe", []EPacket{msg("xxxxxxxxxxxx"), ctl(EPing, "probe")}},
	{"1:6", []EPacket{ctl(ENoop, "")}},
	{"2:b2", []EPacket{{Type: EPing, Binary: true}}},
}

func TestV3StringPayload(t *testing.T) {
	for _, c := range v3StringCases {
		got, err := DecodeV3Payload([]byte(c.wire), false)
		if err != nil || !pktsEqual(got, c.pkts) {
			t.Errorf("DecodeV3Payload(%q) = %+v, %v; want %+v", c.wire, got, err, c.pkts)
		}
		if enc := AppendV3Payload(nil, c.pkts); string(enc) != c.wire {
			t.Errorf("AppendV3Payload(%+v) = %q; want %q", c.pkts, enc, c.wire)
		}
	}
	if enc := AppendV3Payload(nil, nil); string(enc) != "0:" {
		t.Errorf("empty payload = %q; want 0:", enc)
	}
	// "0:" carries no packet; engine.io-parser skips it.
	got, err := DecodeV3Payload([]byte("0:1:6"), false)
	if err != nil || !pktsEqual(got, []EPacket{ctl(ENoop, "")}) {
		t.Errorf("0: then 1:6 = %+v, %v", got, err)
	}
}

var v3BinaryCases = []struct {
	wire string // hex
	pkts []EPacket
}{
	{"0004ff34e282ac0105ff0401020304", []EPacket{msg("€"), binMsg(1, 2, 3, 4)}},
	{"000103ff34787878787878787878787878010101ff0407070707070707070707",
		[]EPacket{msg("xxxxxxxxxxxx"), binMsg(7, 7, 7, 7, 7, 7, 7, 7, 7, 7)}},
	{"0001ff36", []EPacket{ctl(ENoop, "")}},
	{"0001ff34", []EPacket{msg("")}},
	{"0101ff04", []EPacket{{Type: EMessage, Binary: true}}},
}

func TestV3BinaryPayload(t *testing.T) {
	for _, c := range v3BinaryCases {
		wire := unhex(t, c.wire)
		got, err := DecodeV3Payload(wire, true)
		if err != nil || !pktsEqual(got, c.pkts) {
			t.Errorf("DecodeV3Payload(%s, binary) = %+v, %v; want %+v", c.wire, got, err, c.pkts)
		}
		if enc := AppendV3BinaryPayload(nil, c.pkts); hex.EncodeToString(enc) != c.wire {
			t.Errorf("AppendV3BinaryPayload(%+v) = %x; want %s", c.pkts, enc, c.wire)
		}
	}
	// A base64 string packet inside a binary payload is still a binary packet.
	got, err := DecodeV3Payload(append([]byte{0, 6, 0xff}, "b4AQID"...), true)
	if err != nil || !pktsEqual(got, []EPacket{binMsg(1, 2, 3)}) {
		t.Errorf("b64 in binary payload = %+v, %v", got, err)
	}
}

func TestV3PayloadErrors(t *testing.T) {
	for _, c := range []struct {
		wire string
		err  error
	}{
		{"", ErrBadPayload},
		{"6:4hell", ErrBadPayload},       // short
		{"5:4€", ErrBadPayload},          // long
		{"2:4😀", ErrBadPayload},          // splits a surrogate pair
		{"6", ErrBadPayload},             // no colon
		{":4", ErrBadPayload},            // no digits
		{"x:4", ErrBadPayload},           // not a digit
		{"12345678901:4", ErrBadPayload}, // absurd length
		{"1:9", ErrBadPacketType},        // type
		{"2:b9", ErrBadPacketType},       // base64 packet type
		{"1:b", ErrBadPayload},           // base64 packet without type
		{"6:b4$$$$", ErrBadPayload},      // base64
		{"6:4hello2", ErrBadPayload},     // trailing length
		{"6:4hello2:", ErrBadPayload},    // truncated second packet
		{"-1:4", ErrBadPayload},          // sign
		{"0x1:4", ErrBadPayload},         // JavaScript's Number() would take it; we do not
		{strings.Repeat("9", 11) + ":", ErrBadPayload},
	} {
		if _, err := DecodeV3Payload([]byte(c.wire), false); !errors.Is(err, c.err) {
			t.Errorf("DecodeV3Payload(%q) error = %v; want %v", c.wire, err, c.err)
		}
	}
	for _, c := range []struct {
		wire string
		err  error
	}{
		{"", ErrBadPayload},
		{"02", ErrBadPayload},                       // kind
		{"0001", ErrBadPayload},                     // no 0xff
		{"00ff34", ErrBadPayload},                   // no digits
		{"000aff34", ErrBadPayload},                 // digit > 9
		{"0002ff34", ErrBadPayload},                 // short
		{"0000ff", ErrBadPayload},                   // empty string packet
		{"0100ff", ErrBadPayload},                   // empty binary packet
		{"0001ff39", ErrBadPacketType},              // string type
		{"0101ff07", ErrBadPacketType},              // binary type
		{"0009090909090909090909ff", ErrBadPayload}, // absurd length: 10 digits, rejected before allocating
		{"000909090909090909090909ff", ErrBadPayload},
	} {
		if _, err := DecodeV3Payload(unhex(t, c.wire), true); !errors.Is(err, c.err) {
			t.Errorf("DecodeV3Payload(%s, binary) error = %v; want %v", c.wire, err, c.err)
		}
	}
}

func TestUTF16Len(t *testing.T) {
	for s, want := range map[string]int{"": 0, "a": 1, "€": 1, "😀": 2, "a😀€": 4, "\xff": 1, "\xe2\x82": 2} {
		if got := utf16Len([]byte(s)); got != want {
			t.Errorf("utf16Len(%q) = %d; want %d", s, got, want)
		}
	}
}
