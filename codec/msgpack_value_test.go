package codec

import (
	"reflect"
	"testing"
)

func TestMsgpackValueRoundTrip(t *testing.T) {
	v := []any{"uid", map[string]any{"type": 2.0, "data": []any{"ev", []byte{1, 2}, nil, true}, "nsp": "/"},
		map[string]any{"rooms": []any{"r1"}, "except": []any{}, "flags": map[string]any{}}}
	b, err := EncodeMsgpackValue(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMsgpackValue(b)
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %#v, %v", got, err)
	}
	if _, err := DecodeMsgpackValue(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := DecodeMsgpackValue([]byte{0xc1}); err == nil {
		t.Fatal("reserved byte accepted")
	}
	if v, err := DecodeMsgpackValue([]byte{0xd4, 0, 0}); err != nil || v != nil {
		t.Fatalf("undefined: %v %v", v, err)
	}
	if _, err := EncodeMsgpackValue(nil, make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
}

func FuzzDecodeMsgpackValue(f *testing.F) {
	b, _ := EncodeMsgpackValue(nil, []any{"emitter", map[string]any{"type": 2.0, "data": []any{"x"}, "nsp": "/"}, map[string]any{}})
	f.Add(b)
	f.Add([]byte{0x93, 0xa1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeMsgpackValue(b)
		if err != nil {
			return
		}
		again, err := EncodeMsgpackValue(nil, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		w, err := DecodeMsgpackValue(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		// compared as bytes: NaN is not DeepEqual to itself
		if third, _ := EncodeMsgpackValue(nil, w); string(third) != string(again) {
			t.Fatalf("not stable: %#v vs %#v", v, w)
		}
	})
}
