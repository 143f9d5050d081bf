package codec

import (
	"errors"
	"strings"
	"testing"
)

// A typical chat event: ["new-message", {id, roomId, userId, username, content, createdAt}].
func chatPacket() *SPacket {
	return &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: []any{"new-message", map[string]any{
		"id":        "01HMZ6V3J5X9Q2K7T8W4R1N0PB",
		"roomId":    "general",
		"userId":    "u_48213",
		"username":  "alice",
		"content":   strings.Repeat("Hello everyone, the build is green again! ", 3)[:100],
		"createdAt": "2024-01-02T03:04:05.678Z",
	}}}
}

type chatStruct struct {
	ID        string `json:"id"`
	RoomID    string `json:"roomId"`
	UserID    string `json:"userId"`
	Username  string `json:"username"`
	Content   string `json:"content"`
	CreatedAt string `json:"createdAt"`
}

func chatStructPacket() *SPacket {
	m := chatPacket().Data.([]any)[1].(map[string]any)
	return &SPacket{Type: SEvent, Nsp: "/", ID: NoID, Data: []any{"new-message", chatStruct{
		m["id"].(string), m["roomId"].(string), m["userId"].(string), m["username"].(string), m["content"].(string), m["createdAt"].(string),
	}}}
}

func BenchmarkEncodeJSONChat(b *testing.B)       { benchEncodeJSON(b, chatPacket()) }
func BenchmarkEncodeJSONChatStruct(b *testing.B) { benchEncodeJSON(b, chatStructPacket()) }

func benchEncodeJSON(b *testing.B, p *SPacket) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = EncodeJSON(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeJSONChat(b *testing.B) {
	text, _, _ := EncodeJSON(nil, chatPacket())
	var d JSONDecoder
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeText(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONBinary(b *testing.B) {
	text, atts, _ := EncodeJSON(nil, &SPacket{Type: SEvent, Nsp: "/", ID: 7, Data: []any{"upload", map[string]any{"name": "a.png", "data": make([]byte, 1024)}}})
	var d JSONDecoder
	b.ReportAllocs()
	for b.Loop() {
		d.DecodeText(text)
		if p, err := d.DecodeBinary(atts[0]); err != nil || p == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMsgpackChat(b *testing.B)       { benchEncodeMsgpack(b, chatPacket()) }
func BenchmarkEncodeMsgpackChatStruct(b *testing.B) { benchEncodeMsgpack(b, chatStructPacket()) }

func benchEncodeMsgpack(b *testing.B, p *SPacket) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = EncodeMsgpack(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeMsgpackChat(b *testing.B) {
	wire, _ := EncodeMsgpack(nil, chatPacket())
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMsgpack(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// A polling response of 8 chat events (and one binary message, as base64).
func chatPayload() []EPacket {
	text, _, _ := EncodeJSON(nil, chatPacket())
	pkts := make([]EPacket, 8, 9)
	for i := range pkts {
		pkts[i] = EPacket{Type: EMessage, Data: append([]byte("2"), text...)}
	}
	return append(pkts, EPacket{Type: EMessage, Data: make([]byte, 256), Binary: true})
}

func BenchmarkAppendV4Payload(b *testing.B) {
	pkts := chatPayload()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendV4Payload(buf[:0], pkts)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeV4Payload(b *testing.B) {
	body := AppendV4Payload(nil, chatPayload())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeV4Payload(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendV3Payload(b *testing.B) {
	pkts := chatPayload()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendV3Payload(buf[:0], pkts)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeV3Payload(b *testing.B) {
	body := AppendV3Payload(nil, chatPayload())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeV3Payload(body, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTextThenJSON(b *testing.B) {
	// A WebSocket frame as the server sees it: Engine.IO message, then Socket.IO packet.
	text, _, _ := EncodeJSON(nil, chatPacket())
	frame := append([]byte("4"), text...)
	var d JSONDecoder
	b.ReportAllocs()
	for b.Loop() {
		ep, err := ParseText(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.DecodeText(ep.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// Refusing a packet over its budget: a 1 MB frame of empty maps, measured and refused
// without being built.
func BenchmarkRefuseMsgpackEmptyMaps(b *testing.B) {
	frame := mpEvent([]byte{0x80}, 1_000_000-64, 1)
	benchRefuse(b, func() error { _, err := DecodeMsgpack(frame); return err })
}

func BenchmarkRefuseJSONEmptyMaps(b *testing.B) {
	frame := jsonEvent("{}", (1_000_000-64)/3, 1)
	var d JSONDecoder
	benchRefuse(b, func() error { _, err := d.DecodeText(frame); return err })
}

func benchRefuse(b *testing.B, decode func() error) {
	b.ReportAllocs()
	for b.Loop() {
		var over *BudgetError
		if err := decode(); !errors.As(err, &over) {
			b.Fatal(err)
		}
	}
}
