package migrations_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// A schema is read as a set of facts, one sentence each, written the same
// way for both dialects (SQLite's type names, Postgres's normalised
// expressions):
//
//	table T
//	column T.c TYPE [NOT NULL] [DEFAULT expr | AUTOINCREMENT]
//	primary key T (a, b)
//	unique T (a, b)                                  a UNIQUE constraint
//	[unique ]index N ON T (a, b DESC, expr) [WHERE predicate]
//	foreign key T (a) REFERENCES R (b) ON DELETE x ON UPDATE y
//	function f | view v | trigger t
//
// An index's INCLUDE columns (Postgres) are written as trailing key
// columns: SQLite has no INCLUDE, and covers a query with key columns.

// goose's version table is bookkeeping, not schema.
const gooseTable = "goose_db_version"

var (
	pgCast     = regexp.MustCompile(`::"?[a-z_]+"?( precision| varying| with time zone| without time zone)?(\[\])?`)
	pgAnyArray = regexp.MustCompile(`(\w+) = ANY \(ARRAY\[([^\]]*)\]\)`)
	space      = regexp.MustCompile(`\s+`)
)

// normalizeExpr writes a default or a predicate the same way whichever
// catalog it came from: without Postgres's casts, "x = ANY (ARRAY[...])"
// as "x IN (...)", spaces collapsed, redundant outer parentheses dropped.
func normalizeExpr(e string) string {
	e = pgCast.ReplaceAllString(e, "")
	e = pgAnyArray.ReplaceAllString(e, "$1 IN ($2)")
	e = strings.TrimSpace(space.ReplaceAllString(e, " "))
	for wrapped(e) {
		e = strings.TrimSpace(e[1 : len(e)-1])
	}
	return e
}

// wrapped reports whether e is one parenthesised expression.
func wrapped(e string) bool {
	if len(e) < 2 || e[0] != '(' || e[len(e)-1] != ')' {
		return false
	}
	depth := 0
	for i := range len(e) {
		switch e[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && i < len(e)-1 {
				return false
			}
		}
	}
	return true
}

func columnFact(table, col, typ string, notNull bool, dflt string) string {
	f := "column " + table + "." + col + " " + typ
	if notNull {
		f += " NOT NULL"
	}
	if dflt != "" {
		f += " " + dflt
	}
	return f
}

// indexFact states an index: constraint is "p" or "u" when it backs a
// primary key or UNIQUE constraint (named by the database, so unnamed
// here), "" for a CREATE INDEX.
func indexFact(table, name, constraint string, unique bool, cols []string, where string) string {
	list := "(" + strings.Join(cols, ", ") + ")"
	var f string
	switch constraint {
	case "p":
		f = "primary key " + table + " " + list
	case "u":
		f = "unique " + table + " " + list
	default:
		f = "index " + name + " ON " + table + " " + list
		if unique {
			f = "unique " + f
		}
	}
	if where != "" {
		f += " WHERE " + where
	}
	return f
}

func foreignKeyFact(table string, cols []string, ref string, refCols []string, onDelete, onUpdate string) string {
	return fmt.Sprintf("foreign key %s (%s) REFERENCES %s (%s) ON DELETE %s ON UPDATE %s",
		table, strings.Join(cols, ", "), ref, strings.Join(refCols, ", "), onDelete, onUpdate)
}

func TestNormalizeExpr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`(driver_id IS NOT NULL)`:                                 `driver_id IS NOT NULL`,
		`(status = ANY (ARRAY['pending'::text, 'failed'::text]))`: `status IN ('pending', 'failed')`,
		`status IN ('pending', 'failed')`:                         `status IN ('pending', 'failed')`,
		`'{}'::jsonb`:                                             `'{}'`,
		`(a > 0) AND (b > 0)`:                                     `(a > 0) AND (b > 0)`,
		"read_at  IS\n NULL":                                      `read_at IS NULL`,
	} {
		if got := normalizeExpr(in); got != want {
			t.Errorf("normalizeExpr(%q) = %q, want %q", in, got, want)
		}
	}
}
