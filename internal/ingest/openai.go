package ingest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// NewOpenAI reads OpenAI chat JSON Lines (SPEC §8): one conversation a line,
//
//	{"id"?: ..., "messages": [{"role": ..., "content": ...}, ...], ...}
//
// Lines are read one at a time and may be of any length. Blank lines are
// skipped: they neither make a conversation nor count as a position.
//
// Each line becomes a Conversation with Source source and ConversationID
// identity.ID("L8", source, native id), where the native id is the id
// field's text (a string's value, a number's literal) or, when id is absent
// or null, the 0-based position of the line among the non-blank lines. Its
// Metadata is a JSON object holding "native_id" (always, as a string) and
// every other field of the line except "messages", compacted, in key order.
//
// Message i gets MessageID identity.ID("L5", conversation_id, i), Seq i and
// Role from "role", stored as given. Its Content is "content" when that is a
// string, NULL when it is null or absent, and when it is a list of parts the
// "text" of its text parts (parts of type "text" or with a "text" field)
// joined with "\n" ("" when there are none). Parts that are not text parts
// (images, audio, ...) are kept, in order, in the message's metadata under
// "content_parts". Every other field of the message (tool_calls, name,
// tool_call_id, ...) goes to its Metadata, which is nil when there are none.
// CreatedAt is NULL.
//
// Errors name the 1-based line number (blank lines included) and what was
// wrong, e.g. "openai: line 12: messages[3]: content: want string, null or
// list of parts, got number". A line that is not one JSON object, a
// "messages" that is absent or not an array, a message or part that is not
// an object, a role that is neither string nor null, an id that is neither
// string, number nor null, and a line field named "native_id" (or a message
// field named "content_parts" next to non-text parts) are errors. Once Next
// has returned an error it returns the same error.
func NewOpenAI(r io.Reader, source string) Reader {
	return &openAIReader{lines: newLineReader(r), source: source}
}

type openAIReader struct {
	lines    *lineReader
	source   string
	position int // 0-based position of the next conversation line
	conv     Conversation
	err      error
}

func (r *openAIReader) Next() (*Conversation, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, err := r.lines.next()
		if err == io.EOF {
			r.err = io.EOF
			return nil, io.EOF
		}
		if err != nil {
			r.err = fmt.Errorf("openai: %w", err)
			return nil, r.err
		}
		if isBlank(line) {
			continue
		}
		position := r.position
		r.position++
		if err := r.parse(position, line); err != nil {
			r.err = fmt.Errorf("openai: line %d: %w", r.lines.line, err)
			return nil, r.err
		}
		return &r.conv, nil
	}
}

func (r *openAIReader) parse(position int, line []byte) error {
	fields, err := decodeLine(line)
	if err != nil {
		return err
	}
	return parseConversation(&r.conv, r.source, position, fields, "messages", "role", "content", openAIContent)
}

// openAIContent decodes a content that is a string, null or a list of parts.
func openAIContent(raw []byte) (string, bool, []field, error) {
	if jsonKind(raw) != "array" {
		s, ok, err := stringValue(raw)
		if err != nil {
			return "", false, nil, fmt.Errorf("want string, null or list of parts, got %s", jsonKind(raw))
		}
		return s, ok, nil, nil
	}
	parts, err := decodeObjects("", raw)
	if err != nil {
		return "", false, nil, err
	}
	var text strings.Builder
	var other bytes.Buffer
	texts := 0
	for i, fields := range parts {
		typ, _, err := stringValue(fields["type"])
		if err != nil {
			return "", false, nil, fmt.Errorf("[%d]: type: %w", i, err)
		}
		t, hasText := fields["text"]
		if typ != "text" && !hasText {
			if other.Len() == 0 {
				other.WriteByte('[')
			} else {
				other.WriteByte(',')
			}
			if err := writeObject(&other, fields); err != nil {
				return "", false, nil, fmt.Errorf("[%d]: %w", i, err)
			}
			continue
		}
		if !hasText {
			return "", false, nil, fmt.Errorf("[%d]: text: missing", i)
		}
		s, ok, err := stringValue(t)
		if err != nil || !ok {
			return "", false, nil, fmt.Errorf("[%d]: text: want string, got %s", i, jsonKind(t))
		}
		if texts > 0 {
			text.WriteByte('\n')
		}
		texts++
		text.WriteString(s)
	}
	var meta []field
	if other.Len() > 0 {
		other.WriteByte(']')
		meta = []field{{"content_parts", other.Bytes()}}
	}
	return text.String(), true, meta, nil
}
