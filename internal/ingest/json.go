package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// jsonKind names the JSON type of a syntactically valid value, for error
// messages.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	default:
		return "invalid JSON"
	}
}

func isNull(raw []byte) bool { return len(raw) == 0 || (len(raw) == 4 && string(raw) == "null") }

// decodeObject decodes a JSON object into its fields. The map is fresh, so
// its values may be kept.
func decodeObject(raw []byte) (map[string]json.RawMessage, error) {
	if jsonKind(raw) != "object" {
		return nil, fmt.Errorf("want object, got %s", jsonKind(raw))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, jsonErr(err)
	}
	return fields, nil
}

// decodeLine decodes a line of JSON Lines that must hold one JSON object.
func decodeLine(line []byte) (map[string]json.RawMessage, error) {
	line = bytes.TrimSpace(line)
	if jsonKind(line) != "object" {
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, jsonErr(err)
		}
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(line))
	}
	return decodeObject(line)
}

// decodeArray decodes a JSON array into its elements.
func decodeArray(raw []byte) ([]json.RawMessage, error) {
	if jsonKind(raw) != "array" {
		return nil, fmt.Errorf("want array, got %s", jsonKind(raw))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, jsonErr(err)
	}
	return elems, nil
}

// jsonErr rewords encoding/json's errors without their "json: " noise where
// that is possible, keeping the cause.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return err
}

// decodeObjects decodes a JSON array of objects, the messages of a
// conversation or the parts of a content, naming the field in errors.
func decodeObjects(name string, raw []byte) ([]map[string]json.RawMessage, error) {
	if jsonKind(raw) != "array" {
		return nil, fmt.Errorf("%s: want array, got %s", name, jsonKind(raw))
	}
	var objs []map[string]json.RawMessage
	err := json.Unmarshal(raw, &objs)
	if err == nil && !slices.ContainsFunc(objs, func(o map[string]json.RawMessage) bool { return o == nil }) {
		return objs, nil
	}
	// Slow path, for a precise error: an element that is not an object.
	elems, err2 := decodeArray(raw)
	if err2 != nil {
		return nil, fmt.Errorf("%s: %w", name, err2)
	}
	for i, e := range elems {
		if jsonKind(e) != "object" {
			return nil, fmt.Errorf("%s[%d]: want object, got %s", name, i, jsonKind(e))
		}
	}
	return nil, fmt.Errorf("%s: %w", name, jsonErr(err))
}

// stringValue decodes a JSON string or null. ok is false for null or an
// absent value (raw empty).
func stringValue(raw []byte) (s string, ok bool, err error) {
	if isNull(raw) {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, fmt.Errorf("want string or null, got %s", jsonKind(raw))
	}
	// Fast path: no escapes and valid UTF-8 decode to the bytes between the
	// quotes, exactly as encoding/json would.
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, jsonErr(err)
	}
	return s, true, nil
}

// nativeID turns an id field into the text used for identity.ID: a string's
// value or a number's literal text. ok is false for null or an absent value.
func nativeID(raw []byte) (id string, ok bool, err error) {
	switch jsonKind(raw) {
	case "nothing", "null":
		return "", false, nil
	case "string":
		return stringValue(raw)
	case "number":
		return string(raw), true, nil
	default:
		return "", false, fmt.Errorf("want string, number or null, got %s", jsonKind(raw))
	}
}

// field is one key of a metadata object built by the parsers.
type field struct {
	key   string
	value []byte // valid JSON
}

// buildObject returns the JSON object made of lead (in order) followed by
// the fields of extra whose keys are not in known (in key order), compacted.
// A key of extra that lead also uses is an error: the parsers never drop
// input. It returns nil when the object would be empty.
func buildObject(lead []field, extra map[string]json.RawMessage, known ...string) (json.RawMessage, error) {
	if len(lead) == 0 && len(extra) <= len(known) && onlyKnown(extra, known) {
		return nil, nil // the common case, without allocating
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !slices.Contains(known, k) {
			keys = append(keys, k)
		}
	}
	if len(lead) == 0 && len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range lead {
		if _, clash := extra[f.key]; clash {
			return nil, fmt.Errorf("field %q is reserved for the import's metadata", f.key)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		writeKey(&buf, f.key)
		if err := json.Compact(&buf, f.value); err != nil {
			return nil, jsonErr(err)
		}
	}
	for i, k := range keys {
		if i > 0 || len(lead) > 0 {
			buf.WriteByte(',')
		}
		writeKey(&buf, k)
		if err := json.Compact(&buf, extra[k]); err != nil {
			return nil, jsonErr(err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func onlyKnown(fields map[string]json.RawMessage, known []string) bool {
	for k := range fields {
		if !slices.Contains(known, k) {
			return false
		}
	}
	return true
}

func writeKey(buf *bytes.Buffer, key string) {
	buf.Write(jsonString(key))
	buf.WriteByte(':')
}

// jsonString returns s as a JSON string, without encoding/json's escaping
// of <, > and &.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// sortedKeys returns the keys of m in order, so that the first of several
// problems reported is always the same one.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeObject writes fields as a compacted JSON object in key order.
func writeObject(buf *bytes.Buffer, fields map[string]json.RawMessage) error {
	obj, err := buildObject(nil, fields)
	if err != nil {
		return err
	}
	if obj == nil {
		obj = json.RawMessage("{}")
	}
	buf.Write(obj)
	return nil
}
