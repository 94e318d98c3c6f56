package turns

import (
	"strings"
)

// join joins parts with "\n\n", allocating only when there are several.
func join(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	n := 2 * (len(parts) - 1)
	for _, s := range parts {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(parts[0])
	for _, s := range parts[1:] {
		b.WriteString("\n\n")
		b.WriteString(s)
	}
	return b.String()
}

// runeCount returns the number of Unicode code points of s, which is UTF-8
// text (both warehouses store only valid UTF-8). It counts the bytes that
// are not UTF-8 continuation bytes (10xxxxxx), sixteen at a time, which is
// exactly utf8.RuneCountInString(s) for valid UTF-8; for invalid UTF-8 it
// may count fewer.
func runeCount(s string) int {
	const lanes = 0x00ff00ff00ff00ff
	n := len(s)
	for len(s) >= 16 {
		// Each byte lane of acc counts the continuation bytes seen in it,
		// at most 2 per step and 254 in all before the lanes are summed.
		var acc uint64
		for k := 0; k < 127 && len(s) >= 16; k++ {
			acc += continuation(s[:8]) + continuation(s[8:16])
			s = s[16:]
		}
		acc = acc&lanes + acc>>8&lanes
		n -= int((acc * 0x0001000100010001) >> 48)
	}
	for i := 0; i < len(s); i++ {
		if s[i]&0xC0 == 0x80 {
			n--
		}
	}
	return n
}

// continuation returns, in the low bit of each byte lane, whether the byte
// of s in that lane is a UTF-8 continuation byte (10xxxxxx). s has 8 bytes.
func continuation(s string) uint64 {
	const hiBits = 0x8080808080808080
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	return (w & hiBits &^ (w << 1)) >> 7
}
