package rules

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// stringFuncs: string functions. Lengths and positions count characters
// (UTF-8 code points).
var stringFuncs = []Builtin{
	str1("lower", func(s string) (Value, error) { return strings.ToLower(s), nil }),
	str1("upper", func(s string) (Value, error) { return strings.ToUpper(s), nil }),
	str1("trim", func(s string) (Value, error) { return strings.TrimSpace(s), nil }),
	str1("ltrim", func(s string) (Value, error) { return strings.TrimLeftFunc(s, isSpace), nil }),
	str1("rtrim", func(s string) (Value, error) { return strings.TrimRightFunc(s, isSpace), nil }),
	str1("reverse", func(s string) (Value, error) {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}),
	str1("strlen", func(s string) (Value, error) { return int64(runeCount(s)), nil }),
	str1("ascii", func(s string) (Value, error) {
		if s == "" {
			return nil, evalErr("ascii: empty string")
		}
		return int64(s[0]), nil
	}),
	fnN("substr", 2, 3, substrFn),
	fnN("split", 2, 3, splitFn),
	fnN("tokens", 2, 3, tokensFn),
	fn2("concat", func(a, b Value) (Value, error) {
		x, err := argStr("concat", a)
		if err != nil {
			return nil, err
		}
		y, err := argStr("concat", b)
		if err != nil {
			return nil, err
		}
		return x + y, nil
	}),
	fnN("sprintf", 1, -1, sprintfFn),
	fnN("pad", 2, 4, padFn),
	fnN("replace", 3, 4, replaceFn),
	fn2("regex_match", func(a, b Value) (Value, error) {
		s, re, err := regexArgs("regex_match", a, b)
		if err != nil {
			return nil, err
		}
		return re.MatchString(s), nil
	}),
	fnN("regex_replace", 3, 3, func(a []Value) (Value, error) {
		s, re, err := regexArgs("regex_replace", a[0], a[1])
		if err != nil {
			return nil, err
		}
		rep, err := argStr("regex_replace", a[2])
		if err != nil {
			return nil, err
		}
		return regexReplace(s, re, rep)
	}),
	fnN("find", 2, 3, findFn),
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xA0:
		return true
	}
	return r > 0xff && strings.TrimSpace(string(r)) == ""
}

func str1(name string, f func(string) (Value, error)) Builtin {
	return fn1(name, func(a Value) (Value, error) {
		s, err := argStr(name, a)
		if err != nil {
			return nil, err
		}
		return f(s)
	})
}

// option reads an optional string argument and checks it is one of allowed.
func option(fn string, a []Value, i int, def string, allowed ...string) (string, error) {
	if len(a) <= i {
		return def, nil
	}
	s, err := argStr(fn, a[i])
	if err != nil {
		return "", err
	}
	for _, x := range allowed {
		if s == x {
			return s, nil
		}
	}
	return "", evalErr("%s: unknown option %q (expected one of %s)", fn, clip(s), strings.Join(allowed, ", "))
}

// substr(s, start[, len]): start is 0-based; a range past the end is cut.
func substrFn(a []Value) (Value, error) {
	s, err := argStr("substr", a[0])
	if err != nil {
		return nil, err
	}
	start, err := argInt("substr", a[1])
	if err != nil {
		return nil, err
	}
	length := int64(math.MaxInt64)
	if len(a) == 3 {
		if length, err = argInt("substr", a[2]); err != nil {
			return nil, err
		}
	}
	if start < 0 || length < 0 {
		return nil, evalErr("substr: negative start %d or length %d", start, length)
	}
	r := []rune(s)
	if start >= int64(len(r)) {
		return "", nil
	}
	end := int64(len(r))
	if length < end-start {
		end = start + length
	}
	return string(r[start:end]), nil
}

func dropEmpty(parts []string) []Value {
	out := make([]Value, 0, len(parts))
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func keepAll(parts []string) []Value {
	out := make([]Value, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// split(s, sep[, mode]): the plain form splits at every sep and drops empty
// parts; leading/trailing split once at the first/last sep; *_notrim and
// notrim keep empty parts.
func splitFn(a []Value) (Value, error) {
	s, err := argStr("split", a[0])
	if err != nil {
		return nil, err
	}
	sep, err := argStr("split", a[1])
	if err != nil {
		return nil, err
	}
	mode, err := option("split", a, 2, "all", "all", "notrim", "leading", "leading_notrim", "trailing", "trailing_notrim")
	if err != nil {
		return nil, err
	}
	var parts []string
	switch {
	case sep == "":
		parts = []string{s}
	case strings.HasPrefix(mode, "leading"):
		if before, after, ok := strings.Cut(s, sep); ok {
			parts = []string{before, after}
		} else {
			parts = []string{s}
		}
	case strings.HasPrefix(mode, "trailing"):
		if i := strings.LastIndex(s, sep); i >= 0 {
			parts = []string{s[:i], s[i+len(sep):]}
		} else {
			parts = []string{s}
		}
	default:
		parts = strings.Split(s, sep)
	}
	if strings.HasSuffix(mode, "notrim") {
		return keepAll(parts), nil
	}
	return dropEmpty(parts), nil
}

// tokens(s, sepchars[, 'nocrlf']): every character of sepchars separates;
// 'nocrlf' adds CR and LF; empty tokens are dropped.
func tokensFn(a []Value) (Value, error) {
	s, err := argStr("tokens", a[0])
	if err != nil {
		return nil, err
	}
	seps, err := argStr("tokens", a[1])
	if err != nil {
		return nil, err
	}
	if _, err := option("tokens", a, 2, "nocrlf", "nocrlf"); err != nil {
		return nil, err
	}
	if len(a) == 3 {
		seps += "\r\n"
	}
	return dropEmpty(strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })), nil
}

// pad(s, len[, 'trailing'|'leading'|'both'[, char]]) pads to len characters.
func padFn(a []Value) (Value, error) {
	s, err := argStr("pad", a[0])
	if err != nil {
		return nil, err
	}
	n, err := argInt("pad", a[1])
	if err != nil {
		return nil, err
	}
	dir, err := option("pad", a, 2, "trailing", "trailing", "leading", "both")
	if err != nil {
		return nil, err
	}
	ch := " "
	if len(a) == 4 {
		if ch, err = argStr("pad", a[3]); err != nil {
			return nil, err
		}
		if ch == "" {
			return nil, evalErr("pad: empty padding character")
		}
		_, size := utf8.DecodeRuneInString(ch)
		ch = ch[:size]
	}
	if n < 0 || n > maxStringOut {
		return nil, evalErr("pad: length %d out of range 0..%d", n, maxStringOut)
	}
	missing := int(n) - runeCount(s)
	if missing <= 0 {
		return s, nil
	}
	switch dir {
	case "leading":
		return strings.Repeat(ch, missing) + s, nil
	case "both":
		l := missing / 2
		return strings.Repeat(ch, l) + s + strings.Repeat(ch, missing-l), nil
	}
	return s + strings.Repeat(ch, missing), nil
}

// replace(s, pattern, replacement[, 'all'|'leading'|'trailing']): literal
// text; all occurrences by default, or only the first/last.
func replaceFn(a []Value) (Value, error) {
	var strs [3]string
	for i := range strs {
		s, err := argStr("replace", a[i])
		if err != nil {
			return nil, err
		}
		strs[i] = s
	}
	s, pat, rep := strs[0], strs[1], strs[2]
	where, err := option("replace", a, 3, "all", "all", "leading", "trailing")
	if err != nil {
		return nil, err
	}
	if pat == "" {
		return s, nil
	}
	switch where {
	case "leading":
		return strings.Replace(s, pat, rep, 1), nil
	case "trailing":
		if i := strings.LastIndex(s, pat); i >= 0 {
			return s[:i] + rep + s[i+len(pat):], nil
		}
		return s, nil
	}
	if n := strings.Count(s, pat); int64(len(s))+int64(n)*int64(len(rep)-len(pat)) > maxStringOut {
		return nil, evalErr("replace: result longer than %d bytes", maxStringOut)
	}
	return strings.ReplaceAll(s, pat, rep), nil
}

// find(s, pattern[, 'leading'|'trailing']): the rest of s from the first
// (or last) match, or "" when there is none.
func findFn(a []Value) (Value, error) {
	s, err := argStr("find", a[0])
	if err != nil {
		return nil, err
	}
	pat, err := argStr("find", a[1])
	if err != nil {
		return nil, err
	}
	dir, err := option("find", a, 2, "leading", "leading", "trailing")
	if err != nil {
		return nil, err
	}
	i := strings.Index(s, pat)
	if dir == "trailing" {
		i = strings.LastIndex(s, pat)
	}
	if i < 0 {
		return "", nil
	}
	return s[i:], nil
}

func regexArgs(fn string, a, b Value) (string, *regexp.Regexp, error) {
	s, err := argStr(fn, a)
	if err != nil {
		return "", nil, err
	}
	pat, err := argStr(fn, b)
	if err != nil {
		return "", nil, err
	}
	re, rerr := regexp.Compile(pat)
	if rerr != nil {
		return "", nil, evalErr("%s: invalid regular expression: %v", fn, rerr)
	}
	return s, re, nil
}

// regexReplace replaces every match; in rep, & is the whole match, \N (or
// \gN, \g{N}) group N, \& a literal & and \\ a backslash.
func regexReplace(s string, re *regexp.Regexp, rep string) (Value, error) {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		group := func(n int) {
			if 2*n+1 < len(m) && m[2*n] >= 0 {
				b.WriteString(s[m[2*n]:m[2*n+1]])
			}
		}
		for i := 0; i < len(rep); i++ {
			c := rep[i]
			switch {
			case c == '&':
				group(0)
			case c == '\\' && i+1 < len(rep):
				j := i + 1
				brace := false
				if rep[j] == 'g' {
					j++
					if j < len(rep) && rep[j] == '{' {
						brace = true
						j++
					}
				}
				k := j
				for k < len(rep) && isDigit(rep[k]) && k-j < 3 {
					k++
				}
				if k > j && (!brace || k < len(rep) && rep[k] == '}') {
					n, _ := strconv.Atoi(rep[j:k])
					group(n)
					if brace {
						k++
					}
					i = k - 1
					continue
				}
				b.WriteByte(rep[i+1])
				i++
			default:
				b.WriteByte(c)
			}
		}
		last = m[1]
		if b.Len() > maxStringOut {
			return nil, evalErr("regex_replace: result longer than %d bytes", maxStringOut)
		}
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// sprintfFn implements Erlang's io_lib:format directives without field
// widths: ~s (text), ~p and ~w (Erlang term), ~B and ~b (integer), ~f and
// ~e (float), ~c (character code), ~i (skip), ~n, ~~.
func sprintfFn(a []Value) (Value, error) {
	f, err := argStr("sprintf", a[0])
	if err != nil {
		return nil, err
	}
	args := a[1:]
	next := func() (Value, error) {
		if len(args) == 0 {
			return nil, evalErr("sprintf: too few arguments for the format")
		}
		v := args[0]
		args = args[1:]
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(f) {
			return nil, evalErr("sprintf: format ends with ~")
		}
		d := f[i]
		switch d {
		case '~':
			b.WriteByte('~')
			continue
		case 'n':
			b.WriteByte('\n')
			continue
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		switch d {
		case 's':
			switch x := v.(type) {
			case string:
				b.WriteString(x)
			case nil, bool, NullType:
				b.WriteString(atomText(x))
			default:
				return nil, evalErr("sprintf: ~s needs a string, got %s", KindOf(v))
			}
		case 'p', 'w':
			b.WriteString(erlangTerm(v))
		case 'B', 'b':
			n, err := argInt("sprintf ~B", v)
			if err != nil {
				return nil, err
			}
			b.WriteString(strconv.FormatInt(n, 10))
		case 'f', 'e':
			x, ok := v.(float64)
			if !ok {
				return nil, evalErr("sprintf: ~%c needs a float, got %s", d, KindOf(v))
			}
			if d == 'f' {
				b.WriteString(strconv.FormatFloat(x, 'f', 6, 64))
			} else {
				b.WriteString(erlangE(x))
			}
		case 'c':
			n, err := argInt("sprintf ~c", v)
			if err != nil {
				return nil, err
			}
			if n < 0 || n > utf8.MaxRune {
				return nil, evalErr("sprintf: ~c code %d out of range", n)
			}
			b.WriteRune(rune(n))
		case 'i':
		default:
			return nil, evalErr("sprintf: unsupported directive ~%c", d)
		}
		if b.Len() > maxStringOut {
			return nil, evalErr("sprintf: result longer than %d bytes", maxStringOut)
		}
	}
	if len(args) > 0 {
		return nil, evalErr("sprintf: %d arguments left over by the format", len(args))
	}
	return b.String(), nil
}

// erlangE renders ~e: 1.00000e+0.
func erlangE(x float64) string {
	s := strconv.FormatFloat(x, 'e', 5, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[:1]
	digits := strings.TrimLeft(exp[1:], "0")
	if digits == "" {
		digits = "0"
	}
	return mant + "e" + sign + digits
}

// erlangTerm prints v as Erlang's ~p does for the decoded JSON term.
func erlangTerm(v Value) string {
	switch x := v.(type) {
	case string:
		return `<<"` + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), `"`, `\"`) + `">>`
	case float64:
		s := formatFloatJSON(x)
		return strings.Replace(s, "e+", "e", 1)
	case []Value:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = erlangTerm(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]Value:
		parts := make([]string, 0, len(x))
		for _, k := range sortedKeys(x) {
			parts = append(parts, erlangTerm(k)+" => "+erlangTerm(x[k]))
		}
		return "#{" + strings.Join(parts, ",") + "}"
	case nil, NullType, bool:
		return atomText(x)
	}
	return ToText(v)
}
