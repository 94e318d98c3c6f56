package turns

import "testing"

func TestNormalizeRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want Role
	}{
		// The table of SPEC §4.1.
		{"user", RoleUser},
		{"human", RoleUser},
		{"customer", RoleUser},
		{"prompter", RoleUser},
		{"assistant", RoleAssistant},
		{"gpt", RoleAssistant},
		{"bot", RoleAssistant},
		{"model", RoleAssistant},
		{"ai", RoleAssistant},
		{"chatgpt", RoleAssistant},
		{"bing", RoleAssistant},
		{"system", RoleSystem},
		{"developer", RoleSystem},
		{"tool", RoleTool},
		{"function", RoleTool},
		{"ipython", RoleTool},
		{"observation", RoleTool},
		{"function_call", RoleTool},
		// Trimmed and lower-cased first.
		{"User", RoleUser},
		{"HUMAN", RoleUser},
		{"  gpt  ", RoleAssistant},
		{"\tAssistant\n", RoleAssistant},
		{" Function_Call ", RoleTool},
		{"\u00a0System\u3000", RoleSystem}, // Unicode white space
		{"ObSeRvAtIoN", RoleTool},
		// Anything else, or NULL.
		{"", RoleUnknown},
		{"   ", RoleUnknown},
		{"users", RoleUnknown},
		{"assistant:", RoleUnknown},
		{"function call", RoleUnknown},
		{"functioncall", RoleUnknown},
		{"function_calls", RoleUnknown},
		{"narrator", RoleUnknown},
		{"us er", RoleUnknown},
		{"a very long role name indeed", RoleUnknown},
		{"úser", RoleUnknown},
		{"ＵＳＥＲ", RoleUnknown}, // full-width letters are not ASCII "user"
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			if got := NormalizeRole(tc.raw); got != tc.want {
				t.Errorf("NormalizeRole(%q) = %v, want %v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestNormalizeRoleAllocations(t *testing.T) {
	for _, raw := range []string{"user", "  Assistant ", "GPT", "function_call", "narrator", "", "a very long role name indeed"} {
		if n := testing.AllocsPerRun(100, func() { NormalizeRole(raw) }); n != 0 {
			t.Errorf("NormalizeRole(%q) allocates %v times, want 0", raw, n)
		}
	}
}

func TestRoleString(t *testing.T) {
	t.Parallel()
	want := map[Role]string{RoleUnknown: "unknown", RoleUser: "user", RoleAssistant: "assistant", RoleSystem: "system", RoleTool: "tool", Role(99): "unknown"}
	for r, s := range want {
		if got := r.String(); got != s {
			t.Errorf("Role(%d).String() = %q, want %q", r, got, s)
		}
	}
}
