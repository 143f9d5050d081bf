package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every decoder must reject bad input without panicking, and what it accepts must survive
// an encode/decode round trip unchanged.

func FuzzDecodeText(f *testing.F) {
	for _, c := range textCases {
		f.Add([]byte(c.wire))
	}
	for _, s := range []string{"", "7", "x", "b!!!", "bAQ", "bAQ\nID", "4\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeText(b)
		q, errParse := ParseText(b)
		if (err == nil) != (errParse == nil) || err == nil && !pktEqual(p, q) {
			t.Fatalf("DecodeText = %+v, %v; ParseText = %+v, %v", p, err, q, errParse)
		}
		if err != nil {
			return
		}
		again, err := DecodeText(AppendText(nil, p))
		if err != nil || !pktEqual(p, again) {
			t.Fatalf("round trip %+v -> %+v, %v", p, again, err)
		}
	})
}

func FuzzDecodeBinaryV3(f *testing.F) {
	f.Add([]byte{4, 1, 2, 3})
	f.Add([]byte{})
	f.Add([]byte{7})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeBinaryV3(b)
		if err != nil {
			return
		}
		again, err := DecodeBinaryV3(AppendBinaryV3(nil, p))
		if err != nil || !pktEqual(p, again) {
			t.Fatalf("round trip %+v -> %+v, %v", p, again, err)
		}
	})
}

func FuzzDecodeV4Payload(f *testing.F) {
	for _, c := range v4PayloadCases {
		f.Add([]byte(c.wire))
	}
	for _, s := range []string{"", "\x1e", "4a\x1e", "4a\x1e9", "4a\x1eb$$", "bAQ==\x1ebAQ=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := DecodeV4Payload(b)
		if err != nil {
			return
		}
		again, err := DecodeV4Payload(AppendV4Payload(nil, pkts))
		if err != nil || !pktsEqual(pkts, again) {
			t.Fatalf("round trip %+v -> %+v, %v", pkts, again, err)
		}
	})
}

func FuzzDecodeV3Payload(f *testing.F) {
	for _, c := range v3StringCases {
		f.Add([]byte(c.wire), false)
	}
	for _, c := range v3BinaryCases {
		f.Add(unhex(f, c.wire), true)
	}
	for _, s := range []string{"", "6:4hell", "2:4😀", "12345678901:4", "0:", "1:b", "3:4\xff\xfe"} {
		f.Add([]byte(s), false)
	}
	for _, s := range []string{"", "02", "0001", "0009090909090909090909ff", "0006ff6234415149440a"} {
		f.Add(unhex(f, s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, binary bool) {
		pkts, err := DecodeV3Payload(b, binary)
		if err != nil {
			return
		}
		var enc []byte
		if binary {
			enc = AppendV3BinaryPayload(nil, pkts)
		} else {
			enc = AppendV3Payload(nil, pkts)
		}
		again, err := DecodeV3Payload(enc, binary)
		if len(pkts) == 0 && !binary {
			// Only "0:" packets; the encoder writes "0:" back.
			if err != nil || len(again) != 0 {
				t.Fatalf("empty round trip: %+v, %v", again, err)
			}
			return
		}
		if err != nil || !pktsEqual(pkts, again) {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", pkts, enc, again, err)
		}
	})
}

func FuzzJSONDecoder(f *testing.F) {
	for _, c := range jsonCases {
		var a [3][]byte
		copy(a[:], c.atts)
		f.Add([]byte(c.wire), a[0], a[1], a[2])
	}
	for _, s := range []string{
		`2["a",{"k":[1,-0.5e-3,"\u00e9\ud83d\ude00",true,null]}]`, `51-["a",{"_placeholder":true,"num":1}]`,
		`53-["a",{"_placeholder":true,"num":2},[{"_placeholder":true,"num":0}]]`, `511-["a"]`, `2["connect"]`,
		`0/admin,{"token":"x"}`, "2/a\xff,1[\"\xfe\"]", `50-["a",{"_placeholder":true,"num":0}]`, `2[]`, `4"x"`,
	} {
		f.Add([]byte(s), []byte{1}, []byte{2}, []byte{})
	}
	f.Fuzz(func(t *testing.T, text, a0, a1, a2 []byte) {
		var d JSONDecoder
		p, err := d.DecodeText(text)
		if err != nil {
			return
		}
		atts := [][]byte{a0, a1, a2}
		for i := 0; p == nil && i < len(atts); i++ {
			if p, err = d.DecodeBinary(atts[i]); err != nil {
				return
			}
		}
		if p == nil {
			if _, err := d.DecodeText(text); err == nil {
				t.Fatal("text accepted while attachments are due")
			}
			return
		}
		if _, err := d.DecodeBinary(a0); !errors.Is(err, ErrUnexpectedBinary) {
			t.Fatalf("binary with nothing pending: %v", err)
		}
		checkJSONRoundTrip(t, p)
	})
}

// checkJSONRoundTrip encodes p, decodes the result, and compares.
func checkJSONRoundTrip(t *testing.T, p *SPacket) {
	t.Helper()
	text, atts, err := EncodeJSON(nil, p)
	if errors.Is(err, ErrTooManyAttachment) {
		return // placeholders may repeat an attachment; each is written out again
	}
	if err != nil {
		t.Fatalf("EncodeJSON(%+v): %v", p, err)
	}
	if !utf8.Valid(text) {
		t.Fatalf("EncodeJSON wrote invalid UTF-8: %q", text)
	}
	var d JSONDecoder
	again, err := d.DecodeText(text)
	for i := 0; err == nil && again == nil && i < len(atts); i++ {
		again, err = d.DecodeBinary(atts[i])
	}
	if err != nil || again == nil || !spktEqual(p, again) {
		t.Fatalf("round trip %+v -> %q -> %+v, %v", p, text, again, err)
	}
	if len(atts) == 0 && p.Data != nil {
		// No binary: the data must read exactly as encoding/json writes it.
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p.Data); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(text, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("EncodeJSON data %q differs from encoding/json %q", text, want.Bytes())
		}
	}
}

// FuzzJSONValue checks the tree parser against encoding/json.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{`"a\u00e9\ud83d\ude00"`, `"\ud83d"`, `[1,2.5e3,-0,true,null,{"a":{}}]`, `01`, `1e400`,
		`{"a":1,"a":2}`, "\"\xff\"", `"\ud83dx"`, `"\ude00\ud83d"`, ` [ ] `, `1e-400`, `123456789012345678`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseJSON(s, 0, math.MaxInt)
		var want any
		errStd := json.Unmarshal([]byte(s), &want)
		if (err == nil) != (errStd == nil) {
			t.Fatalf("parseJSON(%q) = %v, %v; encoding/json: %v, %v", s, got, err, want, errStd)
		}
		if err == nil && !treeEqual(got, want) {
			t.Fatalf("parseJSON(%q) = %#v; encoding/json %#v", s, got, want)
		}
	})
}

func FuzzDecodeMsgpack(f *testing.F) {
	for _, c := range msgpackCases {
		f.Add(unhex(f, c.hex))
	}
	for _, s := range []string{"", "90", "8101a3", "82a47479706505a36e7370a12f", mp(2, "92a161d40001"),
		mp(2, "92a161d4ff07"), mp(2, "92a161ca7fc00000"), mp(2, "92a161dd7fffffff"), mp(2, "92a161d7ff0000000000000000"),
		mp(3, "91cb7ff8000000000000"), mp(4, "81a3626167c40101"), "83a47479706502a36e7370a12fa76f7074696f6e73" + "81a161c0"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeMsgpack(b)
		p2, err2 := DecodeMsgpackV2(b)
		if err == nil && (err2 != nil || !spktEqual(p, p2)) {
			t.Fatalf("DecodeMsgpack = %+v; DecodeMsgpackV2 = %+v, %v", p, p2, err2)
		}
		if err2 != nil {
			return
		}
		p = p2 // a 2.x BINARY_EVENT or BINARY_ACK is an EVENT or ACK: it round trips as one
		enc, err := EncodeMsgpack(nil, p)
		if err != nil {
			t.Fatalf("EncodeMsgpack(%+v): %v", p, err)
		}
		again, err := DecodeMsgpack(enc)
		if err != nil || !spktEqual(p, again) {
			t.Fatalf("round trip %+v -> %x -> %+v, %v", p, enc, again, err)
		}
		// Both parsers give the same tree, where the JSON protocol can say it at all.
		jsonable := !strings.ContainsRune(p.Nsp, ',') && strings.HasPrefix(p.Nsp, "/") &&
			!treeHas(p.Data, func(v any) bool {
				switch v := v.(type) {
				case float64:
					return math.IsNaN(v) || math.IsInf(v, 0)
				case map[string]any:
					_, ph := v["_placeholder"]
					return ph
				case []byte:
					return p.Type != SEvent && p.Type != SAck
				}
				return false
			})
		if jsonable {
			checkJSONRoundTrip(t, p)
		}
	})
}

func FuzzDecodeMsgpackText(f *testing.F) {
	for _, s := range []string{`{"type":0,"nsp":"/"}`, `{"type":1,"nsp":"/admin"}`, `{"type":4,"nsp":"/","data":"unauthorized"}`,
		`{"type":0,"nsp":"/x","query":"a=b"}`, `{"type":2,"nsp":"/","data":["e"],"id":3}`, `[]`, `{"type":"0"}`, ``, `{"type":0,"nsp":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeMsgpackText(b)
		if err != nil {
			return
		}
		if p.Type != SConnect && p.Type != SDisconnect && p.Type != SConnectError {
			return // packets of other types go as msgpack, not as text
		}
		enc, err := EncodeMsgpackText(nil, p)
		if err != nil {
			t.Fatalf("EncodeMsgpackText(%+v): %v", p, err)
		}
		if p.ID != NoID {
			return // a control packet's id is not written
		}
		again, err := DecodeMsgpackText(enc)
		if err != nil || !spktEqual(p, again) {
			t.Fatalf("round trip %+v -> %s -> %+v, %v", p, enc, again, err)
		}
	})
}
