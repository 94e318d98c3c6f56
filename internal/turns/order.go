package turns

import (
	"cmp"
	"slices"
	"strings"
)

// SortMessages puts one conversation's messages in SPEC §4.1 order: by seq
// (messages without seq last), then by created_at (messages without a time
// last), then by message_id (byte order). The sort is stable, so messages
// equal in all three keys keep their relative order. Already sorted input,
// which is how the warehouse delivers it, costs one pass.
func SortMessages(msgs []Message) {
	if isSorted(msgs) {
		return
	}
	slices.SortStableFunc(msgs, func(a, b Message) int { return compareMessages(&a, &b) })
}

func isSorted(msgs []Message) bool {
	for i := 1; i < len(msgs); i++ {
		if compareMessages(&msgs[i-1], &msgs[i]) > 0 {
			return false
		}
	}
	return true
}

// compareMessages orders two messages of a conversation (SPEC §4.1).
func compareMessages(a, b *Message) int {
	if a.HasSeq != b.HasSeq {
		if a.HasSeq {
			return -1
		}
		return 1
	}
	if a.HasSeq && a.Seq != b.Seq {
		return cmp.Compare(a.Seq, b.Seq)
	}
	az, bz := a.CreatedAt.IsZero(), b.CreatedAt.IsZero()
	if az != bz {
		if bz {
			return -1
		}
		return 1
	}
	if !az {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
	}
	return strings.Compare(a.MessageID, b.MessageID)
}
