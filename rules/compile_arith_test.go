package rules

import (
	"fmt"
	"testing"
)

// TestCompiledArithmetic compares every operator on integer, float and
// edge-case operands between the two paths: the guest does some of these
// natively (with overflow and zero checks) and must agree exactly.
func TestCompiledArithmetic(t *testing.T) {
	vals := []string{"0", "1", "-1", "2", "-7", "3", "2147483647", "-2147483648", "2147483648", "4294967296",
		"9223372036854775807", "-9223372036854775808", "3037000499", "0.5", "-2.5", "1.0e308", "'4'", "true"}
	ops := []string{"+", "-", "*", "/", "div", "mod", "=", "!=", "<", "<=", ">", ">="}
	var sql string
	for _, op := range ops {
		for _, a := range vals {
			for _, b := range vals {
				sql = fmt.Sprintf(`SELECT (%s %s %s) AS r FROM "t"`, a, op, b)
				r, err := Parse(sql)
				if err != nil {
					t.Fatal(err)
				}
				checkCompiledRule(t, r, Columns{})
			}
		}
	}
}
