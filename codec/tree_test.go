package codec

import (
	"bytes"
	"math"
)

// treeEqual compares decoded data trees; NaN equals NaN (msgpack can carry it).
func treeEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case float64:
		bf, ok := b.(float64)
		return ok && (a == bf || math.IsNaN(a) && math.IsNaN(bf))
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case []byte:
		bb, ok := b.([]byte)
		return ok && bytes.Equal(a, bb)
	case []any:
		bb, ok := b.([]any)
		if !ok || len(a) != len(bb) {
			return false
		}
		for i := range a {
			if !treeEqual(a[i], bb[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !treeEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func spktEqual(a, b *SPacket) bool {
	return a.Type == b.Type && a.Nsp == b.Nsp && a.ID == b.ID && treeEqual(a.Data, b.Data)
}

// treeHas reports whether the tree holds a value for which f is true.
func treeHas(v any, f func(any) bool) bool {
	if f(v) {
		return true
	}
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if treeHas(x, f) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if treeHas(x, f) {
				return true
			}
		}
	}
	return false
}
