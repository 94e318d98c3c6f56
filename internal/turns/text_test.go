package turns

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRuneCount(t *testing.T) {
	t.Parallel()
	tests := []string{
		"",
		"a",
		"exactly8",
		"seventeen chars!!",
		"héllo wörld, this is mostly ASCII text",
		"日本語の会話 ✓ 🙂",
		strings.Repeat("x", 15) + "é" + strings.Repeat("y", 9),
		"\U0010FFFF\u0080\u07FF\u0800\uFFFF\U00010000 edges of each length",
		"\u00bf\u00c0\u00ff\u0100 bytes 0xbf, 0xc0 near the bit boundaries",
		strings.Repeat("日本語", 1000),         // more words than a lane holds
		strings.Repeat("🙂", 1200) + "tail",  // four-byte runes, 4804 bytes
		strings.Repeat("ascii ", 600) + "é", // long ASCII run
	}
	for _, s := range tests {
		if got, want := runeCount(s), utf8.RuneCountInString(s); got != want {
			t.Errorf("runeCount(%q) = %d, want %d", s, got, want)
		}
	}
}

func FuzzRuneCount(f *testing.F) {
	f.Add("héllo wörld, this is mostly ASCII text")
	f.Add("日本語の会話 ✓ 🙂")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			// Invalid input counts its bytes that are not continuation
			// bytes, which is never more than the runes that range sees.
			n := 0
			for i := 0; i < len(s); i++ {
				if !utf8.RuneStart(s[i]) {
					n++
				}
			}
			if got, want := runeCount(s), len(s)-n; got != want || got > utf8.RuneCountInString(s) {
				t.Fatalf("runeCount(%q) = %d, want %d", s, got, want)
			}
			return
		}
		if got, want := runeCount(s), utf8.RuneCountInString(s); got != want {
			t.Fatalf("runeCount(%q) = %d, want %d", s, got, want)
		}
	})
}

func TestJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{"one"}, "one"},
		{[]string{"one", "two"}, "one\n\ntwo"},
		{[]string{"a", "b", "c"}, "a\n\nb\n\nc"},
	}
	for _, tc := range tests {
		if got := join(tc.parts); got != tc.want {
			t.Errorf("join(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

func BenchmarkRuneCount(b *testing.B) {
	s := strings.Repeat("the pipeline reads a partition, réponse 回答 ✓ and pairs ", 8)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		runeCount(s)
	}
}
