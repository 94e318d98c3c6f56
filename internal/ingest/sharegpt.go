package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/turnstile-dev/turnstile/internal/identity"
)

// NewShareGPT reads a ShareGPT export (SPEC §8): one JSON array whose
// elements are conversations,
//
//	{"id": ..., "conversations": [{"from": ..., "value": ...}, ...], ...}
//
// It decodes one element at a time, so memory is bounded by the largest
// conversation, not by the file.
//
// Each element becomes a Conversation with Source source and
// ConversationID identity.ID("L8", source, native id), where the native id
// is the id field's text (a string's value, a number's literal) or, when id
// is absent or null, the element's 0-based position in the array. Its
// Metadata is a JSON object holding "native_id" (always, as a string) and
// every other field of the element except "conversations" (e.g. "system",
// "tools"), compacted, in key order.
//
// Message i of "conversations" gets MessageID identity.ID("L5",
// conversation_id, i), Seq i, Role from "from" and Content from "value",
// stored as given; an absent or null "from" or "value" is NULL. Other fields
// of a message go to its Metadata (nil when there are none). CreatedAt is
// NULL: the format has no times.
//
// Errors name the element's index and byte offset: malformed JSON, an input
// that is not an array, an element or message that is not an object, a
// "conversations" field that is absent or not an array, a "from" or "value"
// that is neither string nor null, an id that is neither string, number nor
// null, an element field named "native_id", and anything after the array.
// Once Next has returned an error it returns the same error.
func NewShareGPT(r io.Reader, source string) Reader {
	br, skipped := skipBOM(r)
	return &shareGPTReader{dec: json.NewDecoder(br), base: skipped, source: source}
}

type shareGPTReader struct {
	dec    *json.Decoder
	base   int64 // bytes skipped before the decoder's input
	source string

	started bool
	index   int // 0-based index of the next element
	raw     json.RawMessage
	conv    Conversation
	err     error
}

func (r *shareGPTReader) Next() (*Conversation, error) {
	if r.err != nil {
		return nil, r.err
	}
	c, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return c, nil
}

func (r *shareGPTReader) next() (*Conversation, error) {
	if !r.started {
		r.started = true
		tok, err := r.dec.Token()
		if err == io.EOF {
			return nil, errors.New("sharegpt: empty input, want a JSON array")
		}
		if err != nil {
			return nil, r.syntaxErr("start of input", err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, fmt.Errorf("sharegpt: byte %d: want a JSON array, got %s", r.base, tokenKind(tok))
		}
	}
	if !r.dec.More() {
		return nil, r.end()
	}
	index := r.index
	r.index++
	r.raw = r.raw[:0]
	if err := r.dec.Decode(&r.raw); err != nil {
		return nil, r.syntaxErr(fmt.Sprintf("element %d", index), err)
	}
	offset := r.base + r.dec.InputOffset() - int64(len(r.raw))
	if err := r.parse(index, r.raw); err != nil {
		return nil, fmt.Errorf("sharegpt: element %d (byte %d): %w", index, offset, err)
	}
	return &r.conv, nil
}

// end consumes the closing bracket and checks that nothing follows.
func (r *shareGPTReader) end() error {
	where := fmt.Sprintf("after element %d", r.index-1)
	if r.index == 0 {
		where = "after the opening bracket"
	}
	if _, err := r.dec.Token(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return r.syntaxErr(where, err)
	}
	end := r.base + r.dec.InputOffset()
	tok, err := r.dec.Token()
	switch {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return r.syntaxErr("after the array", err)
	default:
		return fmt.Errorf("sharegpt: unexpected %s after the array, which ends at byte %d", tokenKind(tok), end)
	}
}

// syntaxErr reports a decoder error at where, with its byte offset when the
// decoder knows it.
func (r *shareGPTReader) syntaxErr(where string, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("sharegpt: %s (byte %d): malformed JSON: %w", where, r.base+se.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("sharegpt: %s (byte %d): input ends inside the array: %w", where, r.base+r.dec.InputOffset(), err)
	default:
		return fmt.Errorf("sharegpt: %s: read: %w", where, err)
	}
}

func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(v.String())
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", tok)
	}
}

func (r *shareGPTReader) parse(index int, raw []byte) error {
	fields, err := decodeObject(raw)
	if err != nil {
		return err
	}
	return parseConversation(&r.conv, r.source, index, fields, "conversations", "from", "value", stringContent)
}

// parseConversation fills dst from one decoded conversation object of the
// sharegpt or openai format: its id (position when absent), its messages
// under messagesKey, and every other field in its metadata. dst's message
// slice is reused.
func parseConversation(dst *Conversation, source string, position int, fields map[string]json.RawMessage,
	messagesKey, roleKey, contentKey string, content contentFunc) error {
	native, ok, err := nativeID(fields["id"])
	if err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if !ok {
		native = strconv.Itoa(position)
	}
	convID, err := identity.ID("L8", source, native)
	if err != nil {
		return fmt.Errorf("conversation id: %w", err)
	}
	meta, err := buildObject([]field{{"native_id", jsonString(native)}}, fields, "id", messagesKey)
	if err != nil {
		return err
	}
	rawMsgs, ok := fields[messagesKey]
	if !ok {
		return fmt.Errorf("%s: missing", messagesKey)
	}
	msgs, err := decodeObjects(messagesKey, rawMsgs)
	if err != nil {
		return err
	}
	*dst = Conversation{
		ConversationID: convID,
		Source:         source,
		Metadata:       meta,
		Messages:       dst.Messages[:0],
	}
	for i, m := range msgs {
		row, err := parseMessage(convID, i, m, roleKey, contentKey, content)
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", messagesKey, i, err)
		}
		dst.Messages = append(dst.Messages, row)
	}
	return nil
}

// contentFunc decodes a content field: its text, whether it is not NULL, and
// fields to put first in the message's metadata.
type contentFunc func(raw []byte) (text string, ok bool, meta []field, err error)

// stringContent is a content that is a string or null.
func stringContent(raw []byte) (string, bool, []field, error) {
	s, ok, err := stringValue(raw)
	return s, ok, nil, err
}

// parseMessage builds message i of conversation convID from the fields of a
// JSON object whose role and content are in roleKey and contentKey.
func parseMessage(convID string, i int, fields map[string]json.RawMessage, roleKey, contentKey string, content contentFunc) (MessageRow, error) {
	role, hasRole, err := stringValue(fields[roleKey])
	if err != nil {
		return MessageRow{}, fmt.Errorf("%s: %w", roleKey, err)
	}
	text, hasText, lead, err := content(fields[contentKey])
	if err != nil {
		return MessageRow{}, fmt.Errorf("%s: %w", contentKey, err)
	}
	meta, err := buildObject(lead, fields, roleKey, contentKey)
	if err != nil {
		return MessageRow{}, err
	}
	id, err := identity.ID("L5", convID, strconv.Itoa(i))
	if err != nil {
		return MessageRow{}, fmt.Errorf("message id: %w", err)
	}
	return MessageRow{
		MessageID:      id,
		ConversationID: convID,
		Seq:            int64(i),
		HasSeq:         true,
		Role:           role,
		HasRole:        hasRole,
		Content:        text,
		HasContent:     hasText,
		Metadata:       meta,
	}, nil
}
