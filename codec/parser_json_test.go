package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

type obj = map[string]any
type arr = []any

// Examples of the socket.io-protocol (v5) document, and what socket.io-parser 4.2 encodes.
var jsonCases = []struct {
	wire string
	atts [][]byte
	pkt  SPacket // as decoded
	enc  *SPacket
}{
	{wire: "0", pkt: SPacket{Type: SConnect, Nsp: "/", ID: NoID}},
	{wire: "0/admin,", pkt: SPacket{Type: SConnect, Nsp: "/admin", ID: NoID}},
	{wire: `0{"token":"123"}`, pkt: SPacket{Type: SConnect, Nsp: "/", ID: NoID, Data: obj{"token": "123"}}},
	{wire: `0/admin,{"token":"123"}`, pkt: SPacket{Type: SConnect, Nsp: "/admin", ID: NoID, Data: obj{"token": "123"}}},
	{wire: `0{"sid":"oSO0OpakMV_3jnilAAAA"}`, pkt: SPacket{Type: SConnect, Nsp: "/", ID: NoID, Data: obj{"sid": "oSO0OpakMV_3jnilAAAA"}}},
	{wire: "1/admin,", pkt: SPacket{Type: SDisconnect, Nsp: "/admin", ID: NoID}},
	{wire: "1", pkt: SPacket{Type: SDisconnect, Nsp: "/", ID: NoID}},
	{wire: `2["hello",1]`, pkt: SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"hello", 1.0}}},
	{wire: `2/admin,["project:delete",123]`, pkt: SPacket{Type: SEvent, Nsp: "/admin", ID: NoID, Data: arr{"project:delete", 123.0}}},
	{wire: `2/admin,456["project:delete",123]`, pkt: SPacket{Type: SEvent, Nsp: "/admin", ID: 456, Data: arr{"project:delete", 123.0}}},
	{wire: `29007199254740991["hi"]`, pkt: SPacket{Type: SEvent, Nsp: "/", ID: 9007199254740991, Data: arr{"hi"}}},
	{wire: `212["hi"]`, pkt: SPacket{Type: SEvent, Nsp: "/", ID: 12, Data: arr{"hi"}}},
	{wire: `3/admin,456[]`, pkt: SPacket{Type: SAck, Nsp: "/admin", ID: 456, Data: arr{}}},
	{wire: `30["ok",{"n":null}]`, pkt: SPacket{Type: SAck, Nsp: "/", ID: 0, Data: arr{"ok", obj{"n": nil}}}},
	{wire: `4{"message":"Not authorized"}`, pkt: SPacket{Type: SConnectError, Nsp: "/", ID: NoID, Data: obj{"message": "Not authorized"}}},
	{wire: `4/admin,{"message":"Not authorized"}`, pkt: SPacket{Type: SConnectError, Nsp: "/admin", ID: NoID, Data: obj{"message": "Not authorized"}}},
	{wire: `4"Invalid namespace"`, pkt: SPacket{Type: SConnectError, Nsp: "/", ID: NoID, Data: "Invalid namespace"}},
	{
		wire: `51-["hello",{"_placeholder":true,"num":0}]`, atts: [][]byte{{1, 2, 3}},
		pkt: SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"hello", []byte{1, 2, 3}}},
	},
	{
		wire: `51-/admin,456["project:delete",{"_placeholder":true,"num":0}]`, atts: [][]byte{{1, 2, 3}},
		pkt: SPacket{Type: SEvent, Nsp: "/admin", ID: 456, Data: arr{"project:delete", []byte{1, 2, 3}}},
	},
	{
		wire: `61-/admin,456[{"_placeholder":true,"num":0}]`, atts: [][]byte{{3, 2, 1}},
		pkt: SPacket{Type: SAck, Nsp: "/admin", ID: 456, Data: arr{[]byte{3, 2, 1}}},
	},
	{
		// socket.io-parser 4.2 output for a nested binary ack.
		wire: `62-/admin,7[{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}]}]`, atts: [][]byte{{1}, {2}},
		pkt: SPacket{Type: SAck, Nsp: "/admin", ID: 7, Data: arr{obj{"a": []byte{1}, "b": arr{[]byte{2}}}}},
	},
	{
		// The Type the server passes in may already be the binary one.
		wire: `51-["x",{"_placeholder":true,"num":0}]`, atts: [][]byte{{9}},
		pkt: SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"x", []byte{9}}},
		enc: &SPacket{Type: SBinaryEvent, Nsp: "/", ID: NoID, Data: arr{"x", []byte{9}}},
	},
}

func decodeAll(t testing.TB, d *JSONDecoder, wire string, atts [][]byte) (*SPacket, error) {
	t.Helper()
	p, err := d.DecodeText([]byte(wire))
	if err != nil {
		return nil, err
	}
	for i, a := range atts {
		if p != nil {
			t.Fatalf("packet complete before attachment %d", i)
		}
		if p, err = d.DecodeBinary(a); err != nil {
			return nil, err
		}
	}
	if p == nil {
		t.Fatalf("packet incomplete after %d attachments", len(atts))
	}
	return p, nil
}

func TestJSONExamples(t *testing.T) {
	var d JSONDecoder
	for _, c := range jsonCases {
		got, err := decodeAll(t, &d, c.wire, c.atts)
		if err != nil || !spktEqual(got, &c.pkt) {
			t.Errorf("decode %q = %+v, %v; want %+v", c.wire, got, err, c.pkt)
		}
		in := &c.pkt
		if c.enc != nil {
			in = c.enc
		}
		text, atts, err := EncodeJSON([]byte("prefix"), in)
		if err != nil || string(text) != "prefix"+c.wire || len(atts) != len(c.atts) {
			t.Errorf("EncodeJSON(%+v) = %q, %d attachments, %v; want %q, %d", *in, text, len(atts), err, c.wire, len(c.atts))
			continue
		}
		for i := range atts {
			if !bytes.Equal(atts[i], c.atts[i]) {
				t.Errorf("EncodeJSON(%+v) attachment %d = %x; want %x", *in, i, atts[i], c.atts[i])
			}
		}
	}
}

func TestJSONDecodeVariants(t *testing.T) {
	for _, c := range []struct {
		wire string
		pkt  SPacket
	}{
		{"0/admin", SPacket{Type: SConnect, Nsp: "/admin", ID: NoID}}, // no trailing comma
		{"0/admin,{}", SPacket{Type: SConnect, Nsp: "/admin", ID: NoID, Data: obj{}}},
		{` 2 [ "a" , { "b" : [ true , false , null ] } ] `[1:], SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"a", obj{"b": arr{true, false, nil}}}}},
		{"2\t[\"a\"]\r\n", SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"a"}}},
		{`2["a",{"k":1,"k":2}]`, SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"a", obj{"k": 2.0}}}},
		// Placeholders are only special in binary packets.
		{`2["a",{"_placeholder":true,"num":0}]`, SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"a", obj{"_placeholder": true, "num": 0.0}}}},
		// A binary packet with no attachment is complete at once.
		{"2/a\xffb,[\"a\"]", SPacket{Type: SEvent, Nsp: "/a\uFFFDb", ID: NoID, Data: arr{"a"}}},
		{"2/a\xffb", SPacket{}}, // EVENT without data
	} {
		var d JSONDecoder
		got, err := d.DecodeText([]byte(c.wire))
		if c.pkt.Nsp == "" {
			if err == nil {
				t.Errorf("decode %q succeeded", c.wire)
			}
			continue
		}
		if err != nil || got == nil || !spktEqual(got, &c.pkt) {
			t.Errorf("decode %q = %+v, %v; want %+v", c.wire, got, err, c.pkt)
		}
	}
}

func TestJSONValues(t *testing.T) {
	for _, c := range []struct {
		json string
		want any
	}{
		{`"plain"`, "plain"},
		{`"esc \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20ac"`, "esc \" \\ / \b \f \n \r \t A é €"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ud83dx"`, "\uFFFDx"},
		{`"\ude00\ud83d\u0041"`, "\uFFFD\uFFFDA"},
		{`"\uD83D\uDE00"`, "😀"},
		{"\"\xff\"", "\uFFFD"},
		{"\"a\xffb\\n\xfe\"", "a\uFFFDb\n\uFFFD"},
		{`"€😀"`, "€😀"},
		{`0`, 0.0},
		{`-0`, math.Copysign(0, -1)},
		{`255`, 255.0},
		{`256`, 256.0},
		{`-12`, -12.0},
		{`1.5`, 1.5},
		{`-1.5e3`, -1500.0},
		{`1E+2`, 100.0},
		{`1e-2`, 0.01},
		{`123456789012345`, 123456789012345.0},
		{`12345678901234567890`, 12345678901234567890.0},
		{`1e-400`, 0.0},
		{`[]`, arr{}},
		{`{}`, obj{}},
		{`[[[]]]`, arr{arr{arr{}}}},
		{`{"a":{"b":{}}}`, obj{"a": obj{"b": obj{}}}},
	} {
		got, err := parseJSON(c.json, 0, math.MaxInt)
		if err != nil || !treeEqual(got, c.want) {
			t.Errorf("parseJSON(%s) = %#v, %v; want %#v", c.json, got, err, c.want)
		}
		if f, ok := c.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
			t.Errorf("parseJSON(%s) lost the sign", c.json)
		}
	}
	for _, bad := range []string{
		``, ` `, `x`, `tru`, `nul`, `fals`, `"`, `"abc`, `"\`, `"\x"`, `"\u12"`, `"\u12g4"`,
		"\"\x01\"", "\"a\\n\x1f\"", `[`, `[1`, `[1,`, `[1,]`, `[,1]`, `[1 2]`, `{`, `{"a"`, `{"a":`,
		`{"a":1,}`, `{a:1}`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `01`, `-`, `-a`, `1.`, `1.e3`, `.5`,
		`1e`, `1e+`, `+1`, `1e400`, `-1e400`, `[1]x`, `"a"b`, `NaN`, `Infinity`, `"\ud83d\`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	} {
		if got, err := parseJSON(bad, 0, math.MaxInt); err == nil {
			t.Errorf("parseJSON(%.40q) = %#v; want error", bad, got)
		} else if !errors.Is(err, ErrBadSocketPacket) {
			t.Errorf("parseJSON(%.40q) error %v is not ErrBadSocketPacket", bad, err)
		}
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, err := parseJSON(deep, 0, math.MaxInt); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		wire string
		err  error
	}{
		{"", ErrBadSocketPacket},
		{"7", ErrBadSocketPacket},
		{"x", ErrBadSocketPacket},
		{`5["a"]`, ErrBadSocketPacket},      // attachments required
		{`5-["a"]`, ErrBadSocketPacket},     // digits required
		{`50-["a"]`, ErrBadSocketPacket},    // binary without attachments
		{`51["a"]`, ErrBadSocketPacket},     // '-' required
		{`51`, ErrBadSocketPacket},          // '-' required
		{`5a-["a"]`, ErrBadSocketPacket},    // digits
		{`511-["a"]`, ErrTooManyAttachment}, // > MaxAttachments
		{`5999999999-["a"]`, ErrTooManyAttachment},
		{`0[]`, ErrBadSocketPacket}, // CONNECT data must be an object
		{`0null`, ErrBadSocketPacket},
		{`0"x"`, ErrBadSocketPacket},
		{`1{}`, ErrBadSocketPacket}, // DISCONNECT has no data
		{`1 `, ErrBadSocketPacket},
		{`2`, ErrBadSocketPacket}, // EVENT needs data
		{`2{}`, ErrBadSocketPacket},
		{`2[]`, ErrBadSocketPacket},
		{`2[1]`, ErrBadSocketPacket}, // event name must be a string
		{`2[null]`, ErrBadSocketPacket},
		{`2["connect"]`, ErrBadSocketPacket}, // reserved names
		{`2["disconnect",1]`, ErrBadSocketPacket},
		{`2["newListener"]`, ErrBadSocketPacket},
		{`3`, ErrBadSocketPacket}, // ACK needs an array
		{`31{}`, ErrBadSocketPacket},
		{`4`, ErrBadSocketPacket}, // CONNECT_ERROR needs an object or a string
		{`4[]`, ErrBadSocketPacket},
		{`41`, ErrBadSocketPacket},
		{`2["a"`, ErrBadSocketPacket}, // bad JSON
		{`2["a"]]`, ErrBadSocketPacket},
		{`2["a",1e999]`, ErrBadSocketPacket},
		{`29007199254740992["a"]`, ErrBadSocketPacket}, // ack id beyond 2^53-1
		{`212345678901234567["a"]`, ErrBadSocketPacket},
		{`6-[]`, ErrBadSocketPacket},
	} {
		var d JSONDecoder
		if _, err := d.DecodeText([]byte(c.wire)); !errors.Is(err, c.err) {
			t.Errorf("decode %q error = %v; want %v", c.wire, err, c.err)
		}
	}
}

func TestJSONAttachmentErrors(t *testing.T) {
	for _, c := range []struct {
		wire string
		atts int
	}{
		{`51-["a",{"_placeholder":true,"num":1}]`, 1},
		{`51-["a",{"_placeholder":true,"num":-1}]`, 1},
		{`51-["a",{"_placeholder":true,"num":0.5}]`, 1},
		{`51-["a",{"_placeholder":true,"num":"0"}]`, 1},
		{`51-["a",{"_placeholder":true}]`, 1},
		{`61-[{"x":{"_placeholder":true,"num":3}}]`, 1},
		{`62-[[{"_placeholder":true,"num":2}]]`, 2},
	} {
		var d JSONDecoder
		p, err := d.DecodeText([]byte(c.wire))
		if p != nil || err != nil {
			t.Fatalf("decode %q = %v, %v", c.wire, p, err)
		}
		for i := 0; i < c.atts-1; i++ {
			if p, err := d.DecodeBinary([]byte{1}); p != nil || err != nil {
				t.Fatalf("attachment %d of %q = %v, %v", i, c.wire, p, err)
			}
		}
		if _, err := d.DecodeBinary([]byte{1}); !errors.Is(err, ErrBadSocketPacket) {
			t.Errorf("%q: last attachment error = %v", c.wire, err)
		}
		// The decoder is reset after the error.
		if _, err := d.DecodeBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
			t.Errorf("%q: decoder not reset: %v", c.wire, err)
		}
	}
}

func TestJSONDecoderState(t *testing.T) {
	var d JSONDecoder
	if _, err := d.DecodeBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary with nothing pending: %v", err)
	}
	wire := `52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`
	if p, err := d.DecodeText([]byte(wire)); p != nil || err != nil {
		t.Fatalf("pending: %v, %v", p, err)
	}
	if _, err := d.DecodeText([]byte(`2["b"]`)); !errors.Is(err, ErrBadSocketPacket) {
		t.Fatalf("text while pending: %v", err)
	}
	// The pending packet is dropped: the next text packet decodes normally.
	if p, err := d.DecodeText([]byte(`2["b"]`)); err != nil || p == nil {
		t.Fatalf("after the error: %v, %v", p, err)
	}
	// Reset drops a pending packet.
	d.DecodeText([]byte(wire))
	d.DecodeBinary([]byte{1})
	d.Reset()
	if _, err := d.DecodeBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("after Reset: %v", err)
	}
	// Attachments and strings are copies: the caller may reuse its buffers.
	text := []byte(wire)
	d.DecodeText(text)
	buf := []byte{1, 2}
	d.DecodeBinary(buf)
	buf[0] = 7
	p, err := d.DecodeBinary(buf)
	for i := range text {
		text[i] = 'z'
	}
	buf[0] = 8
	want := &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"a", []byte{1, 2}, []byte{7, 2}}}
	if err != nil || !spktEqual(p, want) {
		t.Fatalf("got %+v, %v; want %+v", p, err, want)
	}
}

type chatMessage struct {
	ID        string    `json:"id"`
	RoomID    string    `json:"roomId"`
	Content   string    `json:"content"`
	Edited    bool      `json:"edited,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Secret    string    `json:"-"`
}

func TestJSONEncode(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for _, c := range []struct {
		pkt  SPacket
		wire string
		atts int
	}{
		{SPacket{Type: SEvent, Nsp: "", ID: NoID, Data: arr{"a"}}, `2["a"]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: 0, Data: arr{"a"}}, `20["a"]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"m", chatMessage{ID: "1", RoomID: "r", Content: "<b>&</b>", CreatedAt: at, Secret: "s"}}},
			`2["m",{"id":"1","roomId":"r","content":"<b>&</b>","createdAt":"2024-01-02T03:04:05.678Z"}]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"m", json.RawMessage(`{ "x" : 1 }`)}}, `2["m",{"x":1}]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"m", map[string]string{"b": "2", "a": "1"}}}, `2["m",{"a":"1","b":"2"}]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"m", []string{"x", "y"}, []string(nil), arr(nil), obj(nil), []byte(nil)}}, `2["m",["x","y"],null,null,null,null]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"n", 1, int8(-2), int16(3), int32(-4), int64(5), uint(6), uint8(7), uint16(8), uint32(9), uint64(10), float32(1.1), 1.1, 1e21, 1e-7, 1e20, -0.0}},
			`2["n",1,-2,3,-4,5,6,7,8,9,10,1.1,1.1,1e+21,1e-7,100000000000000000000,0]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"s", "\u2028\u2029\x00\x1f\"\\\t\xff<>&"}}, `2["s","\u2028\u2029\u0000\u001f\"\\\t\ufffd<>&"]`, 0},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: obj{"z": 1.0, "a": []byte{1}, "m": arr{[]byte{2}}}}, `52-{"a":{"_placeholder":true,"num":0},"m":[{"_placeholder":true,"num":1}],"z":1}`, 2},
		{SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: []byte{1}}, `51-{"_placeholder":true,"num":0}`, 1},
		{SPacket{Type: SAck, Nsp: "/x", ID: 3, Data: arr{[]byte{1}}}, `61-/x,3[{"_placeholder":true,"num":0}]`, 1},
		{SPacket{Type: SBinaryAck, Nsp: "/x", ID: 3, Data: arr{}}, `60-/x,3[]`, 0},
		// []byte outside events: base64, as encoding/json writes it.
		{SPacket{Type: SConnectError, Nsp: "/", ID: NoID, Data: obj{"data": []byte{1, 2, 3}}}, `4{"data":"AQID"}`, 0},
		{SPacket{Type: SConnect, Nsp: "/", ID: NoID, Data: obj{"sid": "abc"}}, `0{"sid":"abc"}`, 0},
		{SPacket{Type: SDisconnect, Nsp: "/a", ID: NoID}, `1/a,`, 0},
	} {
		text, atts, err := EncodeJSON(nil, &c.pkt)
		if err != nil || string(text) != c.wire || len(atts) != c.atts {
			t.Errorf("EncodeJSON(%+v) = %s, %d, %v; want %s, %d", c.pkt, text, len(atts), err, c.wire, c.atts)
		}
	}
}

func TestJSONEncodeErrors(t *testing.T) {
	cyclic := arr{nil}
	cyclic[0] = cyclic
	many := arr{"m"}
	for range MaxAttachments + 1 {
		many = append(many, []byte{1})
	}
	for _, c := range []struct {
		pkt SPacket
		err error
	}{
		{SPacket{Type: 7, ID: NoID}, ErrBadSocketPacket},
		{SPacket{Type: SEvent, ID: -2, Data: arr{"a"}}, ErrBadSocketPacket},
		{SPacket{Type: SEvent, Nsp: "admin", ID: NoID, Data: arr{"a"}}, ErrBadSocketPacket},
		{SPacket{Type: SEvent, Nsp: "/a,b", ID: NoID, Data: arr{"a"}}, ErrBadSocketPacket},
		{SPacket{Type: SEvent, ID: NoID, Data: many}, ErrTooManyAttachment},
		{SPacket{Type: SEvent, ID: NoID, Data: cyclic}, ErrBadSocketPacket},
		{SPacket{Type: SEvent, ID: NoID, Data: arr{"a", math.NaN()}}, errUnsupportedValue},
		{SPacket{Type: SEvent, ID: NoID, Data: arr{"a", math.Inf(1)}}, errUnsupportedValue},
		{SPacket{Type: SEvent, ID: NoID, Data: arr{"a", float32(math.Inf(-1))}}, errUnsupportedValue},
		{SPacket{Type: SEvent, ID: NoID, Data: arr{"a", obj{"f": func() {}}}}, nil}, // encoding/json's error
	} {
		dst := []byte("keep")
		text, atts, err := EncodeJSON(dst, &c.pkt)
		if err == nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("EncodeJSON(%v) error = %v; want %v", c.pkt.Type, err, c.err)
		}
		if string(text) != "keep" || atts != nil {
			t.Errorf("EncodeJSON error returned %q, %d attachments", text, len(atts))
		}
	}
}

// The tree encoder must write what encoding/json writes.
func TestJSONEncodeMatchesStdlib(t *testing.T) {
	for _, v := range []any{
		arr{"a", 1.0, -1.0, 0.1, 1e-6, 1e-7, 123456789.125, 1e15, 1e16, 1.7976931348623157e308, 5e-324, -0.0, math.Copysign(0, -1)},
		arr{"s", "", "é€😀", "\x7f", "\x00\x01\x08\x0c\x0a\x0d\x09", "a\xc3", "\xed\xa0\x80", "\u2028"},
		obj{"b": true, "a": false, "": nil, "é": arr{}, "\xff": obj{}},
		arr{float32(0.1), float32(1e-7), float32(1e21), float32(3.4e38)},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		e := jsonEncoder{}
		if err := e.value(v); err != nil {
			t.Fatal(err)
		}
		if got := string(e.buf); got+"\n" != want.String() {
			t.Errorf("got  %s\nwant %s", got, want.String())
		}
	}
}
