package codec

import "math"

// EncodeMsgpackValue appends v (a data tree, as in packets) in notepack's msgpack; the Redis
// adapter's messages are such values.
func EncodeMsgpackValue(dst []byte, v any) ([]byte, error) {
	e := mpEncoder{buf: dst}
	if err := e.value(v); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// DecodeMsgpackValue decodes one msgpack value (as notepack wrote it) into a data tree; it
// never aliases b. It has no decode budget: its input comes from edgeio's own nodes (the
// Redis adapter, the recovery journal), which re-encode trees that passed a budget as
// clients' packets, and re-encoded JSON packets can be denser than their text.
func DecodeMsgpackValue(b []byte) (any, error) {
	r := mpReader{b: b, left: math.MaxInt}
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	if r.i != len(b) {
		return nil, errf("%d trailing bytes", len(b)-r.i)
	}
	if _, undef := v.(undefinedT); undef {
		return nil, nil
	}
	return v, nil
}
