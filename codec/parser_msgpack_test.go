package codec

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// Vectors produced by socket.io-msgpack-parser 3.0.2 (notepack.io 2.2) under Node.
var msgpackCases = []struct {
	name, hex string
	pkt       SPacket
	same      bool // EncodeMsgpack gives the same bytes back
}{
	{"connect", "82a47479706500a36e7370a12f", SPacket{Type: SConnect, Nsp: "/", ID: NoID}, true},
	{"connectAuth", "83a47479706500a36e7370a62f61646d696ea46461746181a5746f6b656ea3313233",
		SPacket{Type: SConnect, Nsp: "/admin", ID: NoID, Data: obj{"token": "123"}}, true},
	{"eventHello", "83a47479706502a36e7370a12fa46461746192a568656c6c6f01",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"hello", 1.0}}, true},
	{"eventAck", "84a47479706502a36e7370a62f61646d696ea46461746192ae70726f6a6563743a64656c6574657ba26964cd01c8",
		SPacket{Type: SEvent, Nsp: "/admin", ID: 456, Data: arr{"project:delete", 123.0}}, true},
	{"ack", "84a47479706503a36e7370a62f61646d696ea46461746190a26964cd01c8",
		SPacket{Type: SAck, Nsp: "/admin", ID: 456, Data: arr{}}, true},
	{"connectError", "83a47479706504a36e7370a12fa46461746181a76d657373616765ae4e6f7420617574686f72697a6564",
		SPacket{Type: SConnectError, Nsp: "/", ID: NoID, Data: obj{"message": "Not authorized"}}, true},
	{"disconnect", "82a47479706501a36e7370a62f61646d696e", SPacket{Type: SDisconnect, Nsp: "/admin", ID: NoID}, true},
	{"numbers", "83a47479706502a36e7370a12fa464617461dc0016a16e007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffcb3ff8000000000000cbbfd0000000000000cf001fffffffffffff",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"n", 0.0, 127.0, 128.0, 255.0, 256.0, 65535.0, 65536.0, 4294967295.0, 4294967296.0,
			-1.0, -32.0, -33.0, -128.0, -129.0, -32768.0, -32769.0, -2147483648.0, -2147483649.0, 1.5, -0.25, 9007199254740991.0}}, true},
	{"strings", "83a47479706502a36e7370a12fa46461746196a173a0bf" + strings.Repeat("61", 31) + "d920" + strings.Repeat("62", 32) + "da0100" + strings.Repeat("63", 256) + "a7e282acf09f9880",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"s", "", strings.Repeat("a", 31), strings.Repeat("b", 32), strings.Repeat("c", 256), "€😀"}}, true},
	{"misc", "83a47479706502a36e7370a12fa46461746196a16dc0c3c2d4000081a161d40000",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"m", nil, true, false, nil, obj{"a": nil}}}, false},
	{"buffer", "83a47479706502a36e7370a12fa46461746192a362696ec403010203",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"bin", []byte{1, 2, 3}}}, true},
	{"arraybuffer", "83a47479706502a36e7370a12fa46461746192a26162c702000405",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"ab", []byte{4, 5}}}, false},
	{"date", "83a47479706502a36e7370a12fa46461746192a464617465d7000000018cc820db2e",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"date", "2024-01-02T03:04:05.678Z"}}, false},
	{"clientOptions", "84a47479706502a46461746191a568656c6c6fa76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"hello"}}, false},
	{"clientUndefinedId", "84a47479706502a46461746191a568656c6c6fa36e7370a12fa26964d40000",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"hello"}}, false},
	{"chat", "83a47479706502a36e7370a12fa46461746192ab6e65772d6d65737361676586a26964a26d31a6726f6f6d4964a27231a6757365724964a27531a8757365726e616d65a5616c696365a7636f6e74656e74a26869a9637265617465644174cf0000018bcfe56800",
		SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"new-message", obj{"id": "m1", "roomId": "r1", "userId": "u1", "username": "alice", "content": "hi", "createdAt": 1700000000000.0}}}, false},
}

func TestMsgpackVectors(t *testing.T) {
	for _, c := range msgpackCases {
		wire := unhex(t, c.hex)
		got, err := DecodeMsgpack(wire)
		if err != nil || !spktEqual(got, &c.pkt) {
			t.Errorf("%s: DecodeMsgpack = %+v, %v; want %+v", c.name, got, err, c.pkt)
			continue
		}
		enc, err := EncodeMsgpack([]byte{0xee}, &c.pkt)
		if err != nil || enc[0] != 0xee {
			t.Errorf("%s: EncodeMsgpack: %x, %v", c.name, enc, err)
			continue
		}
		enc = enc[1:]
		if c.same && hex.EncodeToString(enc) != c.hex {
			t.Errorf("%s: EncodeMsgpack = %x; want %s", c.name, enc, c.hex)
		}
		back, err := DecodeMsgpack(enc)
		if err != nil || !spktEqual(back, &c.pkt) {
			t.Errorf("%s: round trip = %+v, %v", c.name, back, err)
		}
	}
}

func TestMsgpackNoAlias(t *testing.T) {
	wire := unhex(t, "83a47479706502a36e7370a12fa46461746192a362696ec403010203")
	p, err := DecodeMsgpack(wire)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wire {
		wire[i] = 0
	}
	want := &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: arr{"bin", []byte{1, 2, 3}}}
	if !spktEqual(p, want) {
		t.Fatalf("decoded packet aliases its input: %+v", p)
	}
}

// mp builds a packet map around a data value given in hex.
func mp(typ byte, dataHex string) string {
	return "83a474797065" + hex.EncodeToString([]byte{typ}) + "a36e7370a12fa464617461" + dataHex
}

func TestMsgpackValues(t *testing.T) {
	for _, c := range []struct {
		hex  string
		want any
	}{
		{"92a161ca3fc00000", arr{"a", 1.5}},          // float 32
		{"92a161d0ff", arr{"a", -1.0}},               // int 8
		{"92a161d1fffe", arr{"a", -2.0}},             // int 16
		{"92a161d3fffffffffffffffd", arr{"a", -3.0}}, // int 64
		{"92a161cf8000000000000000", arr{"a", 9223372036854775808.0}},
		{"92a161c40100", arr{"a", []byte{0}}},              // bin 8
		{"92a161c5000100", arr{"a", []byte{0}}},            // bin 16
		{"92a161c600000000", arr{"a", []byte{}}},           // bin 32
		{"92a161c8000100ab", arr{"a", []byte{0xab}}},       // ext 16, type 0
		{"92a161c900000000" + "00", arr{"a", []byte{}}},    // ext 32, type 0
		{"92a161d50001ff", arr{"a", []byte{1, 0xff}}},      // fixext 2, type 0
		{"92a161d4ff07", arr{"a", arr{-1.0, []byte{7}}}},   // other types: [type, bytes]
		{"92a161c701050a", arr{"a", arr{5.0, []byte{10}}}}, // ext 8, type 5
		{"92a161d8ff" + strings.Repeat("00", 16), arr{"a", arr{-1.0, make([]byte, 16)}}},
		{"92a161d7ff0000000000000000", arr{"a", arr{-1.0, make([]byte, 8)}}},
		{"92a161d40001", arr{"a", nil}},                     // undefined, whatever the data byte
		{"92a161a2c328", arr{"a", "\uFFFD("}},               // invalid UTF-8
		{"92a161da0001" + "61", arr{"a", "a"}},              // str 16
		{"92a161db00000001" + "61", arr{"a", "a"}},          // str 32
		{"92a161dc000101", arr{"a", arr{1.0}}},              // array 16
		{"92a161dd0000000101", arr{"a", arr{1.0}}},          // array 32
		{"92a161de0001a16101", arr{"a", obj{"a": 1.0}}},     // map 16
		{"92a161df00000001a16101", arr{"a", obj{"a": 1.0}}}, // map 32
		{"92a16182a16101a16102", arr{"a", obj{"a": 2.0}}},   // repeated key: last wins
	} {
		p, err := DecodeMsgpack(unhex(t, mp(2, c.hex)))
		if err != nil || !treeEqual(p.Data, c.want) {
			t.Errorf("data %s = %#v, %v; want %#v", c.hex, p, err, c.want)
		}
	}
}

func TestJSDateJSON(t *testing.T) {
	// Expected strings from Node's JSON.stringify(new Date(ms)).
	for ms, want := range map[int64]any{
		0:                 "1970-01-01T00:00:00.000Z",
		-1:                "1969-12-31T23:59:59.999Z",
		8.64e15:           "+275760-09-13T00:00:00.000Z",
		-8.64e15:          "-271821-04-20T00:00:00.000Z",
		-62167219200000:   "0000-01-01T00:00:00.000Z",
		-62198755200000:   "-000001-01-01T00:00:00.000Z",
		253402300799999:   "9999-12-31T23:59:59.999Z",
		253402300800000:   "+010000-01-01T00:00:00.000Z",
		1704164645678:     "2024-01-02T03:04:05.678Z",
		8.64e15 + 1:       nil,
		-8.64e15 - 1:      nil,
		math.MaxInt64:     nil,
		math.MinInt64 + 1: nil,
	} {
		if got := jsDateJSON(ms); got != want {
			t.Errorf("jsDateJSON(%d) = %v; want %v", ms, got, want)
		}
	}
}

func TestMsgpackDecodeErrors(t *testing.T) {
	for _, c := range []struct{ name, hex string }{
		{"empty", ""},
		{"not a map", "90"},
		{"truncated map", "82a474797065"},
		{"int key", "8101a3"},
		{"bad key", "81c1"},
		{"truncated key", "81a4747970"},
		{"no type", "81a36e7370a12f"},
		{"type 5", "82a47479706505a36e7370a12f"},
		{"type -1", "82a474797065ffa36e7370a12f"},
		{"type 1.5", "82a474797065cb3ff8000000000000a36e7370a12f"},
		{"type string", "82a474797065a130a36e7370a12f"},
		{"type undefined", "82a474797065d40000a36e7370a12f"},
		{"no nsp", "81a47479706500"},
		{"nsp int", "82a47479706500a36e737001"},
		{"nsp nil", "82a47479706500a36e7370c0"},
		{"id -1", "83a47479706500a36e7370a12fa26964ff"},
		{"id 1.5", "83a47479706500a36e7370a12fa26964cb3ff8000000000000"},
		{"id string", "83a47479706500a36e7370a12fa26964a131"},
		{"id null", "83a47479706500a36e7370a12fa26964c0"},
		{"id 2^53", "83a47479706500a36e7370a12fa26964cf0020000000000000"},
		{"connect array", mp(0, "90")},
		{"connect null", mp(0, "c0")},
		{"disconnect data", mp(1, "80")},
		{"disconnect null", mp(1, "c0")},
		{"event map", mp(2, "80")},
		{"event empty", mp(2, "90")},
		{"event number name", mp(2, "9101")},
		{"event reserved", mp(2, "91aa646973636f6e6e656374")},
		{"event no data", "82a47479706502a36e7370a12f"},
		{"event undefined data", mp(2, "d40000")},
		{"ack map", mp(3, "80")},
		{"ack no data", "82a47479706503a36e7370a12f"},
		{"connect error number", mp(4, "01")},
		{"connect error no data", "82a47479706504a36e7370a12f"},
		{"trailing", "82a47479706500a36e7370a12f00"},
		{"0xc1", mp(2, "92a161c1")},
		{"nested int key", mp(2, "92a1618101a3")},
		{"array beyond input", mp(2, "dd7fffffff")},
		{"map beyond input", mp(2, "92a161df7fffffff0101")},
		{"map16 beyond input", mp(2, "92a161de0002a16101")},
		{"str beyond input", mp(2, "92a161dbffffffff")},
		{"bin beyond input", mp(2, "92a161c6ffffffff")},
		{"ext beyond input", mp(2, "92a161c9ffffffff00")},
		{"fixstr beyond input", mp(2, "92a161a5")},
		{"truncated float", mp(2, "92a161cb3ff8")},
		{"truncated float32", mp(2, "92a161ca3f")},
		{"truncated uint", mp(2, "92a161cd01")},
		{"truncated int", mp(2, "92a161d2ffff")},
		{"truncated fixext", mp(2, "92a161d7000102")},
		{"truncated ext type", mp(2, "92a161c701")},
		{"truncated length", mp(2, "92a161dc00")},
		{"missing element", mp(2, "92a161")},
		{"bad skipped value", "83a47479706502a36e7370a12fa76f7074696f6e73c1"},
		{"truncated skipped", "83a47479706502a36e7370a12fa76f7074696f6e7392cb00"},
		{"deep", mp(2, "92a161"+strings.Repeat("91", maxDepth)+"c0")},
		{"deep skipped", "83a47479706502a36e7370a12fa76f7074696f6e73" + strings.Repeat("91", maxDepth+1) + "c0"},
	} {
		// no budget: "deep" would be over it before it is too deep
		if p, err := (MsgpackDecoder{Budget: -1}).Decode(unhex(t, c.hex)); !errors.Is(err, ErrBadSocketPacket) {
			t.Errorf("%s: DecodeMsgpack = %+v, %v; want ErrBadSocketPacket", c.name, p, err)
		}
	}
}

func TestMsgpackSkip(t *testing.T) {
	// Every kind of value under an ignored key.
	vals := []string{"c0", "c2", "c3", "01", "ff", "cc01", "cd0001", "ce00000001", "cf0000000000000001",
		"d001", "d10001", "d200000001", "d30000000000000001", "ca3f800000", "cb3ff0000000000000",
		"a161", "d90161", "c40101", "c7010001", "d40000", "d5000102", "d60001020304", "d7000000000000000000",
		"d800" + strings.Repeat("00", 16), "9201a161", "81a16101", "dc000101", "de0001a16101"}
	for _, v := range vals {
		wire := "83a47479706500a36e7370a12fa1" + hex.EncodeToString([]byte("x")) + v
		if p, err := DecodeMsgpack(unhex(t, wire)); err != nil || p.Type != SConnect {
			t.Errorf("skipping %s: %+v, %v", v, p, err)
		}
	}
}

type mpStruct struct {
	Name  string         `json:"name"`
	Skip  string         `json:"-"`
	Empty string         `json:"empty,omitempty"`
	Count int            `json:"count"`
	Bin   []byte         `json:"bin"`
	Meta  map[string]any `json:"meta"`
}

type jsonOnly struct{ v string }

func (j jsonOnly) MarshalJSON() ([]byte, error) { return json.Marshal(obj{"v": j.v, "n": 1}) }

type badJSON struct{}

func (badJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }

func TestMsgpackEncode(t *testing.T) {
	at := time.UnixMilli(1704164645678)
	for _, c := range []struct {
		name string
		data any
		want any // decoded
	}{
		{"ints", arr{"n", 1, int8(-2), int16(300), int32(-70000), int64(1 << 40), uint(6), uint8(200), uint16(60000), uint32(1 << 31), uint64(1 << 63), float32(0.5)},
			arr{"n", 1.0, -2.0, 300.0, -70000.0, float64(1 << 40), 6.0, 200.0, 60000.0, float64(1 << 31), float64(1 << 63), 0.5}},
		{"floats", arr{"f", -0.0, 1e300, -1e300, math.Inf(1), 0.1, -9.5, float64(math.MinInt64)},
			arr{"f", 0.0, 1e300, -1e300, math.Inf(1), 0.1, -9.5, float64(math.MinInt64)}},
		{"strings", arr{"s", []string{"a", "b"}, []string(nil), strings.Repeat("x", 70000)},
			arr{"s", arr{"a", "b"}, nil, strings.Repeat("x", 70000)}},
		{"nil containers", arr{"x", arr(nil), obj(nil), []byte(nil)}, arr{"x", nil, nil, nil}},
		{"big containers", arr{"b", make(arr, 20), make([]byte, 300), make([]byte, 70000), bigMap(20)},
			arr{"b", make(arr, 20), make([]byte, 300), make([]byte, 70000), bigMap(20)}},
		{"huge array", arr{"h", make(arr, 70000)}, arr{"h", make(arr, 70000)}},
		{"huge map", arr{"h", bigMap(70000)}, arr{"h", bigMap(70000)}},
		{"time", arr{"t", at}, arr{"t", "2024-01-02T03:04:05.678Z"}},
		{"json.Number", arr{"n", json.Number("12.5")}, arr{"n", 12.5}},
		{"json.RawMessage", arr{"r", json.RawMessage(`{"a":[1,"x"]}`)}, arr{"r", obj{"a": arr{1.0, "x"}}}},
		{"json.Marshaler", arr{"j", jsonOnly{"q"}}, arr{"j", obj{"v": "q", "n": 1.0}}},
		{"struct", arr{"s", mpStruct{Name: "n", Skip: "s", Count: 3, Bin: []byte{1}, Meta: obj{"k": 2.5}}},
			arr{"s", obj{"name": "n", "count": 3.0, "bin": []byte{1}, "meta": obj{"k": 2.5}}}},
		{"struct pointer", arr{"s", &mpStruct{Name: "n", Empty: "e"}},
			arr{"s", obj{"name": "n", "empty": "e", "count": 0.0, "bin": nil, "meta": nil}}},
	} {
		pkt := &SPacket{Type: SEvent, Nsp: "/chat", ID: 70000, Data: c.data}
		enc, err := EncodeMsgpack(nil, pkt)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := (MsgpackDecoder{Budget: -1}).Decode(enc) // "huge array" is over the budget
		want := &SPacket{Type: SEvent, Nsp: "/chat", ID: 70000, Data: c.want}
		if err != nil || !spktEqual(got, want) {
			t.Errorf("%s: decoded %#v, %v; want %#v", c.name, got, err, c.want)
		}
	}
	// Binary types have no msgpack form of their own; an empty Nsp is the main namespace.
	for in, out := range map[SType]SType{SBinaryEvent: SEvent, SBinaryAck: SAck} {
		enc, err := EncodeMsgpack(nil, &SPacket{Type: in, ID: 1, Data: arr{"a"}})
		got, _ := DecodeMsgpack(enc)
		if err != nil || got.Type != out || got.Nsp != "/" || got.ID != 1 {
			t.Errorf("type %d encoded as %+v, %v", in, got, err)
		}
	}
}

func bigMap(n int) obj {
	m := obj{}
	for i := range n {
		m[strings.Repeat("k", i%40)+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i >> 16), byte(i >> 8), byte(i)})] = float64(i)
	}
	return m
}

func TestMsgpackEncodeErrors(t *testing.T) {
	cyclic := arr{nil}
	cyclic[0] = cyclic
	cyclicMap := obj{}
	cyclicMap["a"] = cyclicMap
	for _, c := range []struct {
		name string
		pkt  SPacket
	}{
		{"type", SPacket{Type: 7, ID: NoID}},
		{"id", SPacket{Type: SEvent, ID: -5, Data: arr{"a"}}},
		{"cyclic", SPacket{Type: SEvent, ID: NoID, Data: cyclic}},
		{"cyclic map", SPacket{Type: SEvent, ID: NoID, Data: arr{"a", cyclicMap}}},
		{"json.Number", SPacket{Type: SEvent, ID: NoID, Data: arr{"a", json.Number("x")}}},
		{"MarshalJSON", SPacket{Type: SEvent, ID: NoID, Data: arr{"a", badJSON{}}}},
		{"bad RawMessage", SPacket{Type: SEvent, ID: NoID, Data: arr{"a", json.RawMessage(`{`)}}},
		{"library", SPacket{Type: SEvent, ID: NoID, Data: arr{"a", make(chan int)}}},
	} {
		got, err := EncodeMsgpack([]byte("keep"), &c.pkt)
		if err == nil || string(got) != "keep" {
			t.Errorf("%s: EncodeMsgpack = %x, %v; want an error and dst unchanged", c.name, got, err)
		}
	}
}

// Text packets of socket.io-msgpack-parser 2.2.1 (socket.io-client 2.x), as it writes them.
func TestMsgpackTextPackets(t *testing.T) {
	cases := []struct {
		wire string
		pkt  SPacket
		same bool // EncodeMsgpackText gives the same text back
	}{
		{`{"type":0,"nsp":"/"}`, SPacket{Type: SConnect, Nsp: "/", ID: NoID}, true},
		{`{"type":0,"nsp":"/admin","query":"token=1"}`, SPacket{Type: SConnect, Nsp: "/admin", ID: NoID}, false},
		{`{"type":1,"nsp":"/"}`, SPacket{Type: SDisconnect, Nsp: "/", ID: NoID}, true},
		{`{"type":4,"nsp":"/","data":"unauthorized"}`, SPacket{Type: SConnectError, Nsp: "/", ID: NoID, Data: "unauthorized"}, true},
	}
	for _, c := range cases {
		p, err := DecodeMsgpackText([]byte(c.wire))
		if err != nil || !spktEqual(p, &c.pkt) {
			t.Errorf("DecodeMsgpackText(%s) = %+v, %v; want %+v", c.wire, p, err, c.pkt)
		}
		enc, err := EncodeMsgpackText(nil, &c.pkt)
		if err != nil || c.same && string(enc) != c.wire {
			t.Errorf("EncodeMsgpackText(%+v) = %s, %v; want %s", c.pkt, enc, err, c.wire)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"type":"0","nsp":"/"}`, `{"type":0}`, `{"type":9,"nsp":"/"}`, `{"type":2,"nsp":"/","data":"x"}`} {
		if p, err := DecodeMsgpackText([]byte(bad)); err == nil {
			t.Errorf("DecodeMsgpackText(%s) = %+v, want an error", bad, p)
		}
	}
	if _, err := EncodeMsgpackText(nil, &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: []any{"e"}}); err == nil {
		t.Error("EncodeMsgpackText of an EVENT: want an error (events go as msgpack)")
	}
}

// socket.io-msgpack-parser 2.2.1 types an event or ack that holds binary 5 or 6; 3.x does not.
func TestMsgpackV2BinaryTypes(t *testing.T) {
	cases := []struct {
		hex string
		pkt SPacket
	}{
		{"84a47479706505a36e7370a12fa46461746192a165c4020102a2696407", SPacket{Type: SEvent, Nsp: "/", ID: 7, Data: arr{"e", []byte{1, 2}}}},
		{"84a47479706506a36e7370a12fa46461746191c40103a2696408", SPacket{Type: SAck, Nsp: "/", ID: 8, Data: arr{[]byte{3}}}},
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		if p, err := DecodeMsgpackV2(b); err != nil || !spktEqual(p, &c.pkt) {
			t.Errorf("DecodeMsgpackV2(%s) = %+v, %v; want %+v", c.hex, p, err, c.pkt)
		}
		if p, err := DecodeMsgpack(b); err == nil {
			t.Errorf("DecodeMsgpack(%s) = %+v: the 3.x parser has no type %d", c.hex, p, b[6])
		}
	}
}
