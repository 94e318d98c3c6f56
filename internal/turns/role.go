package turns

import "strings"

// maxRoleLen is the length of the longest raw role of SPEC §4.1
// ("function_call").
const maxRoleLen = 13

// NormalizeRole maps a raw role to its normalised role (SPEC §4.1): raw is
// trimmed of surrounding white space and lower-cased, then looked up in the
// table below. Anything else, including "" (NULL), is RoleUnknown.
//
//	user, human, customer, prompter                      RoleUser
//	assistant, gpt, bot, model, ai, chatgpt, bing        RoleAssistant
//	system, developer                                    RoleSystem
//	tool, function, ipython, observation, function_call  RoleTool
//
// It does not allocate for ASCII input.
func NormalizeRole(raw string) Role {
	if r := lookupRole(raw); r != RoleUnknown {
		return r // already normalised: the common case
	}
	s := strings.TrimSpace(raw)
	var buf [maxRoleLen]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			// Unicode case mapping; a role of the table is ASCII once
			// lower-cased.
			return lookupRole(strings.ToLower(s))
		}
		if len(b) == len(buf) {
			return RoleUnknown // longer than any role of the table
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return lookupRole(string(b))
}

// lookupRole maps a trimmed, lower-cased raw role.
func lookupRole(s string) Role {
	switch s {
	case "user", "human", "customer", "prompter":
		return RoleUser
	case "assistant", "gpt", "bot", "model", "ai", "chatgpt", "bing":
		return RoleAssistant
	case "system", "developer":
		return RoleSystem
	case "tool", "function", "ipython", "observation", "function_call":
		return RoleTool
	}
	return RoleUnknown
}

// String returns the role's name as used in SPEC §4.1: "user", "assistant",
// "system", "tool" or "unknown".
func (r Role) String() string {
	switch r {
	case RoleUser:
		return "user"
	case RoleAssistant:
		return "assistant"
	case RoleSystem:
		return "system"
	case RoleTool:
		return "tool"
	}
	return "unknown"
}
