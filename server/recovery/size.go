package recovery

import "edgeio/codec"

// sizeOf estimates what a tree of codec values holds in memory: its strings and bytes, and
// the headers around them.
func sizeOf(v any) int64 {
	switch v := v.(type) {
	case string:
		return 16 + int64(len(v))
	case []byte:
		return 24 + int64(len(v))
	case []any:
		n := int64(24)
		for _, e := range v {
			n += 16 + sizeOf(e)
		}
		return n
	case map[string]any:
		n := int64(48)
		for k, e := range v {
			n += 32 + int64(len(k)) + sizeOf(e)
		}
		return n
	case []string:
		n := int64(24)
		for _, e := range v {
			n += 16 + int64(len(e))
		}
		return n
	case nil, bool, float64, int, int64, uint64:
		return 8
	default: // anything else the codec encodes: as long as its encoding
		b, _ := codec.EncodeMsgpackValue(nil, v)
		return 16 + int64(len(b))
	}
}
