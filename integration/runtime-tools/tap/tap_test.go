package tap

import (
	"bytes"
	"testing"
)

// The output run.sh parses: numbered results shared with Todo copies, SKIP and TODO directives,
// one-line descriptions, YAML blocks indented under the result, and the plan.
func TestStream(t *testing.T) {
	var out bytes.Buffer
	tt := New()
	tt.Writer = &out
	tt.Header(0)
	tt.Ok(true, "first")
	tt.Fail("two\nlines")
	if err := tt.YAML(map[string]string{"error": "boom"}); err != nil {
		t.Fatal(err)
	}
	tt.Skip(2, "not here")
	tt.Todo().Fail("later")
	tt.Pass("last")
	tt.Diagnosticf("n=%d", 3)
	tt.AutoPlan()
	want := `TAP version 13
ok 1 - first
not ok 2 - two lines
  ---
  {
    "error": "boom"
  }
  ...
ok 3 # SKIP not here
ok 4 # SKIP not here
not ok 5 # TODO later
ok 6 - last
# n=3
1..6
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if tt.Count() != 6 {
		t.Errorf("Count() = %d, want 6", tt.Count())
	}
}

func TestHeaderWithPlan(t *testing.T) {
	var out bytes.Buffer
	tt := New()
	tt.Writer = &out
	tt.Header(2)
	if out.String() != "TAP version 13\n1..2\n" {
		t.Errorf("got %q", out.String())
	}
}
