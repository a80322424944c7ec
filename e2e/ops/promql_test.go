package ops_test

import (
	"fmt"
	"strings"
	"unicode"
)

// A tokenizer over PromQL, enough to tell which identifiers of an
// expression are metric names: Prometheus's own parser
// (prometheus/promql/parser) would bring the whole of Prometheus into
// the module for one question. It knows the places where an identifier
// is not a metric name — a function or aggregation (followed by "("), a
// keyword, a label name (inside {…} and in by/without/on/ignoring/
// group_left/group_right lists), a duration (inside […], after offset) —
// and skips strings, numbers, comments and Grafana's variables ($x,
// ${x}, [[x]]). A metric named by {__name__="…"} or by a quoted name
// inside braces (Prometheus 3) counts too. promql_names_test.go holds
// the tricky cases.

// tokKind is a token's kind.
type tokKind int

const (
	tIdent  tokKind = iota // a name: metric, label, function or keyword
	tString                // "…", '…' or `…`, unquoted
	tNumber                // a number or a duration
	tVar                   // a Grafana variable
	tPunct                 // ( ) { } , and operators
)

type token struct {
	kind tokKind
	text string
}

// lex splits expr into tokens, dropping white space, comments and the
// contents of range and subquery brackets.
func lex(expr string) ([]token, error) {
	var toks []token
	r := []rune(expr)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#': // a comment to the end of the line
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			s, n, err := lexString(r[i:])
			if err != nil {
				return nil, fmt.Errorf("at %d: %w", i, err)
			}
			toks = append(toks, token{tString, s})
			i += n
		case c == '[' && i+1 < len(r) && r[i+1] == '[': // Grafana's [[var]]
			j := i + 2
			for j+1 < len(r) && (r[j] != ']' || r[j+1] != ']') {
				j++
			}
			if j+1 >= len(r) {
				return nil, fmt.Errorf("at %d: unterminated [[", i)
			}
			toks = append(toks, token{tVar, string(r[i : j+2])})
			i = j + 2
		case c == '[': // a range or subquery: durations, steps, variables
			j := i + 1
			for j < len(r) && r[j] != ']' {
				j++
			}
			if j == len(r) {
				return nil, fmt.Errorf("at %d: unterminated [", i)
			}
			i = j + 1
		case c == '$':
			j := i + 1
			if j < len(r) && r[j] == '{' {
				for j < len(r) && r[j] != '}' {
					j++
				}
				if j == len(r) {
					return nil, fmt.Errorf("at %d: unterminated ${", i)
				}
				j++
			} else {
				for j < len(r) && isIdentRune(r[j], false) {
					j++
				}
			}
			toks = append(toks, token{tVar, string(r[i:j])})
			i = j
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(r) && unicode.IsDigit(r[i+1])):
			// Numbers and durations (1e3, 0x1f, 5m, 1h30m) run on with
			// letters, so that no part of one reads as a name.
			j := i
			for j < len(r) && (isIdentRune(r[j], false) || r[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, string(r[i:j])})
			i = j
		case isIdentRune(c, true):
			j := i
			for j < len(r) && isIdentRune(r[j], false) {
				j++
			}
			toks = append(toks, token{tIdent, string(r[i:j])})
			i = j
		default:
			j := i + 1
			if j < len(r) && strings.ContainsRune("=~", r[j]) && strings.ContainsRune("=!<>", c) {
				j++
			}
			toks = append(toks, token{tPunct, string(r[i:j])})
			i = j
		}
	}
	return toks, nil
}

// isIdentRune: PromQL names are [a-zA-Z_:][a-zA-Z0-9_:]*.
func isIdentRune(c rune, first bool) bool {
	return c == '_' || c == ':' || (c < unicode.MaxASCII && unicode.IsLetter(c)) || (!first && c < unicode.MaxASCII && unicode.IsDigit(c))
}

// lexString reads a quoted string at the start of r and returns its
// contents and its length in runes.
func lexString(r []rune) (string, int, error) {
	q := r[0]
	var b strings.Builder
	for i := 1; i < len(r); i++ {
		switch {
		case r[i] == q:
			return b.String(), i + 1, nil
		case r[i] == '\\' && q != '`' && i+1 < len(r):
			i++
			b.WriteRune(r[i])
		default:
			b.WriteRune(r[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string %s", string(r))
}

// keywords are the identifiers PromQL reserves (compared in lower case).
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "start": true, "end": true, "step": true,
}

// grouping keywords take a parenthesised list of label names.
var grouping = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names expr selects, in order of first
// appearance.
func metricNames(expr string) ([]string, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	next := func(i int) token {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return token{}
	}
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tPunct && t.text == "(":
			depth++
		case t.kind == tPunct && t.text == ")":
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ) in %q", expr)
			}
		case t.kind == tPunct && t.text == "{":
			j, err := matchers(toks, i, add)
			if err != nil {
				return nil, fmt.Errorf("%w in %q", err, expr)
			}
			i = j
		case t.kind == tPunct && t.text == "}":
			return nil, fmt.Errorf("unbalanced } in %q", expr)
		case t.kind != tIdent:
		case grouping[strings.ToLower(t.text)]:
			if n := next(i); n.kind == tPunct && n.text == "(" {
				j := i + 2
				for ; j < len(toks) && !(toks[j].kind == tPunct && toks[j].text == ")"); j++ {
					if toks[j].kind != tIdent && toks[j].kind != tString && !(toks[j].kind == tPunct && toks[j].text == ",") {
						return nil, fmt.Errorf("%s list holds %q in %q", t.text, toks[j].text, expr)
					}
				}
				if j == len(toks) {
					return nil, fmt.Errorf("unterminated %s list in %q", t.text, expr)
				}
				i = j
			}
		case keywords[strings.ToLower(t.text)]:
		case next(i).kind == tPunct && next(i).text == "(": // a function or an aggregation
		case next(i).kind == tIdent && (strings.EqualFold(next(i).text, "by") || strings.EqualFold(next(i).text, "without")):
			// an aggregation with its grouping first: sum by (le) (…)
		default:
			add(t.text)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	return names, nil
}

// matchers reads a {…} selector starting at toks[open] and returns the
// index of its "}". Inside, identifiers are label names; a metric name
// appears as __name__="x" or as a quoted name standing alone.
func matchers(toks []token, open int, add func(string)) (int, error) {
	for i := open + 1; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tPunct && t.text == "}":
			return i, nil
		case t.kind == tPunct && t.text == ",":
		case t.kind == tString && (i+1 >= len(toks) || toks[i+1].kind != tPunct || !isMatchOp(toks[i+1].text)):
			add(t.text) // {"metric.name", label="x"}
		case t.kind == tIdent || t.kind == tString: // label op value
			if i+2 >= len(toks) || !isMatchOp(toks[i+1].text) || (toks[i+2].kind != tString && toks[i+2].kind != tVar) {
				return 0, fmt.Errorf("malformed matcher at %q", t.text)
			}
			if t.text == "__name__" && toks[i+1].text == "=" && toks[i+2].kind == tString {
				add(toks[i+2].text)
			}
			i += 2
		default:
			return 0, fmt.Errorf("unexpected %q in a selector", t.text)
		}
	}
	return 0, fmt.Errorf("unterminated {")
}

func isMatchOp(s string) bool { return s == "=" || s == "!=" || s == "=~" || s == "!~" }
