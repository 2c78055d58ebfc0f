// Package tap writes Test Anything Protocol (version 13) output. It provides the calls the OCI
// runtime-tools validation programs make on github.com/mndrix/tap-go, which Debian does not
// package; run.sh builds it under that import path. YAML blocks are written as JSON, which is
// valid YAML, so no YAML library is needed.
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// T is one TAP stream. Copies made by Todo share the test counter with their origin.
type T struct {
	next *int
	// TODO marks every test this T reports with the TODO directive.
	TODO bool
	// Writer receives the output; New sets it to os.Stdout.
	Writer io.Writer
}

// New starts a TAP stream on standard output.
func New() *T {
	n := 1
	return &T{next: &n, Writer: os.Stdout}
}

func (t *T) printf(format string, a ...interface{}) {
	fmt.Fprintf(t.Writer, format, a...)
}

// Header prints the version line and, when testCount > 0, the plan.
func (t *T) Header(testCount int) {
	t.printf("TAP version 13\n")
	if testCount > 0 {
		t.printf("1..%d\n", testCount)
	}
}

// Ok reports one test: "ok N - description" or "not ok N - description".
func (t *T) Ok(test bool, description string) {
	result := "ok"
	if !test {
		result = "not ok"
	}
	description = oneLine(description)
	if t.TODO {
		t.printf("%s %d # TODO %s\n", result, *t.next, description)
	} else {
		t.printf("%s %d - %s\n", result, *t.next, description)
	}
	*t.next++
}

// Pass reports a passing test.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Fail reports a failing test.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Skip reports count skipped tests, each counted as ok with the SKIP directive.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\n", *t.next, oneLine(description))
		*t.next++
	}
}

// Todo returns a T whose tests carry the TODO directive, numbered in this stream.
func (t *T) Todo() *T {
	todo := *t
	todo.TODO = true
	return &todo
}

// Count is the number of tests reported so far.
func (t *T) Count() int { return *t.next - 1 }

// AutoPlan prints the plan for the tests reported so far; call it last.
func (t *T) AutoPlan() { t.printf("1..%d\n", t.Count()) }

// Diagnostic prints a comment line per line of message.
func (t *T) Diagnostic(message string) {
	for _, line := range strings.Split(message, "\n") {
		t.printf("# %s\n", line)
	}
}

// Diagnosticf is Diagnostic with fmt.Sprintf formatting.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, a...))
}

// YAML prints message as a YAML block attached to the previous test.
func (t *T) YAML(message interface{}) error {
	data, err := json.MarshalIndent(message, "  ", "  ")
	if err != nil {
		return err
	}
	t.printf("  ---\n  %s\n  ...\n", data)
	return nil
}

// oneLine keeps a description on its test line: TAP ends a test line at the newline.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}
