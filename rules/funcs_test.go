package rules

import (
	"strings"
	"testing"
)

// fcase evaluates expr (as `SELECT expr AS r`) on the columns of ctx and
// expects the JSON of r (or "undefined"), or an error containing wantErr.
type fcase struct {
	expr    string
	want    string
	wantErr string
}

const funcCtx = `{"topic": "t/a/b", "clientid": "c1", "username": "u1", "qos": 1, "id": "00AB",
 "peerhost": "10.0.0.1", "flags": {"retain": true}, "payload": "{\"x\": {\"y\": 5}, \"n\": null}",
 "from": "internal", "m": {"a": {"b": 1}, "k": 2}, "l": [1, 2, 3], "e": [], "s": "héllo",
 "subs": [{"topic": "t/#", "qos": 1}, {"topic": "a/b", "qos": 0}]}`

var testedFuncs = map[string]bool{}

func runFuncCases(t *testing.T, cases []fcase) {
	t.Helper()
	cols, err := DecodeColumns(funcCtx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r, err := Parse("SELECT " + c.expr + ` AS r FROM "t/#"`)
		if err != nil {
			t.Errorf("%s: parse: %v", c.expr, err)
			continue
		}
		markCalls(r.Fields[0].Expr)
		checkCompiledRule(t, r, cols) // the compiled path must agree (compile_test.go)
		out, err := r.Eval(cols)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s = %v, %v; want error containing %q", c.expr, out.JSON(), err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		got := "undefined"
		if v, ok := out.Object["r"]; ok {
			got = string(EncodeJSON(v))
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
}

func markCalls(e Expr) {
	switch x := e.(type) {
	case *Call:
		testedFuncs[x.Name] = true
		for _, a := range x.Args {
			markCalls(a)
		}
	case *Binary:
		markCalls(x.L)
		markCalls(x.R)
	case *Unary:
		markCalls(x.X)
	case *ListLit:
		for _, a := range x.Elems {
			markCalls(a)
		}
	case *Case:
		for _, w := range x.Whens {
			markCalls(w.Cond)
			markCalls(w.Then)
		}
	}
}

func TestFuncsContext(t *testing.T) {
	runFuncCases(t, []fcase{
		{`topic()`, `"t/a/b"`, ""},
		{`topic(2)`, `"a"`, ""},
		{`topic(-1)`, ``, "out of range"},
		{`topic(4)`, ``, "out of range"},
		{`topic('1')`, ``, "expected an integer"},
		{`clientid()`, `"internal"`, ""}, // 4.2 quirk: reads "from"
		{`username()`, `"u1"`, ""},
		{`qos()`, `1`, ""},
		{`flags()`, `{"retain":true}`, ""},
		{`flag('retain')`, `true`, ""},
		{`flag('dup')`, `undefined`, ""},
		{`flag(1)`, ``, "expected a string"},
		{`payload()`, `"{\"x\": {\"y\": 5}, \"n\": null}"`, ""},
		{`payload('x.y')`, `5`, ""},
		{`payload('n')`, `null`, ""},
		{`payload('nope.y')`, `undefined`, ""},
		{`peerhost()`, `"10.0.0.1"`, ""},
		{`clientip()`, `"10.0.0.1"`, ""},
		{`msgid()`, `"00AB"`, ""},
		{`contains_topic(['t/#', 'a/b'], 'a/b')`, `true`, ""},
		{`contains_topic(['t/#'], 't/1')`, `false`, ""},
		{`contains_topic(subs, 'a/b', 0)`, `true`, ""},
		{`contains_topic(subs, 'a/b', 1)`, `false`, ""},
		{`contains_topic(1, 'a')`, ``, "list of topic filters"},
		{`contains_topic_match(['t/#'], 't/1')`, `true`, ""},
		{`contains_topic_match(subs, 't/1', 1)`, `true`, ""},
		{`contains_topic_match(subs, 'x/1')`, `false`, ""},
		{`is_float(random())`, `true`, ""},
		{`random() < 1.0`, `true`, ""},
		{`strlen(uuid_v4())`, `36`, ""},
		{`strlen(uuid_v4_no_hyphen())`, `32`, ""},
		{`regex_match(uuid_v4(), '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')`, `true`, ""},
		{`null()`, `undefined`, ""},
	})
}

func TestFuncsMath(t *testing.T) {
	runFuncCases(t, []fcase{
		{`abs(-3)`, `3`, ""},
		{`abs(3)`, `3`, ""},
		{`abs(-2.5)`, `2.5`, ""}, // decision: floats accepted
		{`abs('1')`, ``, "expected a number"},
		{`abs(nope)`, ``, "got undefined"},
		{`abs(-9223372036854775808)`, ``, "overflow"},
		{`ceil(1.2)`, `2`, ""},
		{`ceil(-1.2)`, `-1`, ""},
		{`ceil(3)`, `3`, ""},
		{`floor(1.8)`, `1`, ""},
		{`floor(-1.2)`, `-2`, ""},
		{`round(2.5)`, `3`, ""},
		{`round(-2.5)`, `-3`, ""},
		{`round(2.4)`, `2`, ""},
		{`round(1.0e30)`, ``, "does not fit"},
		{`round('x')`, ``, "expected a number"},
		{`sqrt(4)`, `2.0`, ""},
		{`sqrt(-1)`, ``, "domain"},
		{`power(2, 10)`, `1024.0`, ""},
		{`power(10, 400)`, ``, "domain"},
		{`exp(0)`, `1.0`, ""},
		{`log(1)`, `0.0`, ""},
		{`log(0)`, ``, "domain"},
		{`log10(1000)`, `3.0`, ""},
		{`log2(8)`, `3.0`, ""},
		{`log2(-8)`, ``, "domain"},
		{`fmod(7.5, 2)`, `1.5`, ""},
		{`fmod(-7, 3)`, `-1.0`, ""},
		{`fmod(1, 0)`, ``, "domain"},
		{`sin(0)`, `0.0`, ""},
		{`cos(0)`, `1.0`, ""},
		{`tan(0)`, `0.0`, ""},
		{`asin(1) * 2 > 3.14`, `true`, ""},
		{`asin(2)`, ``, "domain"},
		{`acos(1)`, `0.0`, ""},
		{`atan(0)`, `0.0`, ""},
		{`sinh(0)`, `0.0`, ""},
		{`cosh(0)`, `1.0`, ""},
		{`tanh(0)`, `0.0`, ""},
		{`asinh(0)`, `0.0`, ""},
		{`acosh(1)`, `0.0`, ""},
		{`acosh(0)`, ``, "domain"},
		{`atanh(0)`, `0.0`, ""},
		{`atanh(1)`, ``, "domain"},
		{`sin('x')`, ``, "expected a number"},
		{`mod(7, 3)`, `1`, ""},
		{`mod(-7, 3)`, `-1`, ""},
		{`mod(7, 0)`, ``, "by zero"},
		{`mod(7.0, 2)`, ``, "integers"},
		{`div(7, 2)`, `3`, ""},
		{`eq(1, 1.0)`, `true`, ""},
		{`eq('1', 1)`, `false`, ""},
		{`eq(nope, nope2)`, `true`, ""},
	})
}

func TestFuncsBits(t *testing.T) {
	runFuncCases(t, []fcase{
		{`bitnot(0)`, `-1`, ""},
		{`bitnot(1.0)`, ``, "expected an integer"},
		{`bitand(12, 10)`, `8`, ""},
		{`bitor(12, 10)`, `14`, ""},
		{`bitxor(12, 10)`, `6`, ""},
		{`bitsl(1, 4)`, `16`, ""},
		{`bitsl(1, 63)`, ``, "overflow"},
		{`bitsl(8, -2)`, `2`, ""},
		{`bitsr(16, 4)`, `1`, ""},
		{`bitsr(-16, 2)`, `-4`, ""},
		{`bitsr(-1, 100)`, `-1`, ""},
		{`bitsr('a', 1)`, ``, "expected an integer"},
		{`bitsize('ab')`, `16`, ""},
		{`bitsize(1)`, ``, "expected a string"},
		{`subbits('abc', 8)`, `97`, ""},
		{`subbits('abc', 9, 8)`, `98`, ""},
		{`subbits('abc', 1, 16, 'integer', 'unsigned', 'little')`, `25185`, ""},
		{`subbits(hexstr2bin('FF'), 1, 8, 'integer', 'signed', 'big')`, `-1`, ""},
		{`subbits(hexstr2bin('3FC00000'), 1, 32, 'float', 'unsigned', 'big')`, `1.5`, ""},
		{`subbits('abc', 1, 16, 'bits', 'unsigned', 'big')`, `"ab"`, ""},
		{`subbits('abc', 20, 8)`, `undefined`, ""},
		{`subbits('abc', 0, 8)`, ``, "invalid start"},
		{`subbits('abc', 1, 8, 'text', 'unsigned', 'big')`, ``, "unknown type"},
		{`subbits('abc', 1, 8, 'integer')`, ``, "takes 2, 3 or 6"},
		{`subbits(1, 8)`, ``, "expected a string"},
	})
}

func TestFuncsConv(t *testing.T) {
	runFuncCases(t, []fcase{
		{`str(1)`, `"1"`, ""},
		{`str(1/3)`, `"0.3333333333"`, ""},
		{`str(2.0)`, `"2.0"`, ""},
		{`str(true)`, `"true"`, ""},
		{`str(nope)`, `"undefined"`, ""},
		{`str(payload('n'))`, `"null"`, ""},
		{`str(m)`, `"{\"a\":{\"b\":1},\"k\":2}"`, ""},
		{`str(l)`, `"[1,2,3]"`, ""},
		{`str('x')`, `"x"`, ""},
		{`str_utf8(12)`, `"12"`, ""},
		{`str_utf8(base64_decode('/w=='))`, ``, "UTF-8"},
		{`int('12')`, `12`, ""},
		{`int('-3.9')`, `-4`, ""},
		{`int(-3.9)`, `-4`, ""},
		{`int(3.9)`, `3`, ""},
		{`int(true)`, `1`, ""},
		{`int(false)`, `0`, ""},
		{`int('x')`, ``, "not a number"},
		{`int(l)`, ``, "expected a number"},
		{`float(1)`, `1.0`, ""},
		{`float('1.5')`, `1.5`, ""},
		{`float('2')`, `2.0`, ""},
		{`float('1e5')`, ``, "not a number"},
		{`float(true)`, ``, "expected a number"},
		{`bool(1)`, `true`, ""},
		{`bool(0)`, `false`, ""},
		{`bool('true')`, `true`, ""},
		{`bool('false')`, `false`, ""},
		{`bool(false)`, `false`, ""},
		{`bool(2)`, ``, "cannot convert"},
		{`bool('yes')`, ``, "cannot convert"},
		{`map('{"a":1}')`, `{"a":1}`, ""},
		{`map(m)`, `{"a":{"b":1},"k":2}`, ""},
		{`map('[1]')`, ``, "not an object"},
		{`map('{')`, ``, "not a JSON object"},
		{`map(1)`, ``, "expected a map"},
		{`float2str(1.23456, 2)`, `"1.23"`, ""},
		{`float2str(2.0, 3)`, `"2.0"`, ""},
		{`float2str(1, 2)`, ``, "expected a float"},
		{`float2str(1.5, -1)`, ``, "out of range"},
		{`bin2hexstr('ab')`, `"6162"`, ""},
		{`bin2hexstr(hexstr2bin('0aff'))`, `"0AFF"`, ""},
		{`hexstr2bin('6162')`, `"ab"`, ""},
		{`hexstr2bin('6')`, ``, "not hexadecimal"},
		{`hexstr2bin(1)`, ``, "expected a string"},
	})
}

func TestFuncsPred(t *testing.T) {
	runFuncCases(t, []fcase{
		{`is_null(nope)`, `true`, ""},
		{`is_null(payload('n'))`, `false`, ""},
		{`is_null(1)`, `false`, ""},
		{`is_not_null(nope)`, `false`, ""},
		{`is_not_null(payload('n'))`, `true`, ""},
		{`is_str('a')`, `true`, ""},
		{`is_str(1)`, `false`, ""},
		{`is_bool(true)`, `true`, ""},
		{`is_bool('true')`, `false`, ""},
		{`is_int(1)`, `true`, ""},
		{`is_int(1.0)`, `false`, ""},
		{`is_float(1.0)`, `true`, ""},
		{`is_float(1)`, `false`, ""},
		{`is_num(1)`, `true`, ""},
		{`is_num(1.5)`, `true`, ""},
		{`is_num('1')`, `false`, ""},
		{`is_map(m)`, `true`, ""},
		{`is_map(l)`, `false`, ""},
		{`is_array(l)`, `true`, ""},
		{`is_array(nope)`, `false`, ""},
	})
}

func TestFuncsString(t *testing.T) {
	runFuncCases(t, []fcase{
		{`lower('AbC')`, `"abc"`, ""},
		{`upper('AbC')`, `"ABC"`, ""},
		{`upper(1)`, ``, "expected a string"},
		{`trim('  a b  ')`, `"a b"`, ""},
		{`ltrim('  a ')`, `"a "`, ""},
		{`rtrim('  a ')`, `"  a"`, ""},
		{`reverse(s)`, `"olléh"`, ""},
		{`strlen(s)`, `5`, ""},
		{`strlen('')`, `0`, ""},
		{`strlen(nope)`, ``, "got undefined"},
		{`substr('abcdef', 2)`, `"cdef"`, ""},
		{`substr('abcdef', 0, 2)`, `"ab"`, ""},
		{`substr('abcdef', 4, 10)`, `"ef"`, ""},
		{`substr('abc', 10)`, `""`, ""},
		{`substr(s, 1, 2)`, `"él"`, ""},
		{`substr('abc', -1)`, ``, "negative"},
		{`substr('abc', 1, -1)`, ``, "negative"},
		{`split('a,b,,c,', ',')`, `["a","b","c"]`, ""},
		{`split('a,b,,c,', ',', 'notrim')`, `["a","b","","c",""]`, ""},
		{`split(',a,b', ',', 'leading')`, `["a,b"]`, ""},
		{`split(',a,b', ',', 'leading_notrim')`, `["","a,b"]`, ""},
		{`split('a,b,', ',', 'trailing')`, `["a,b"]`, ""},
		{`split('a,b,', ',', 'trailing_notrim')`, `["a,b",""]`, ""},
		{`split('abc', '')`, `["abc"]`, ""},
		{`split('a', ',', 'middle')`, ``, "unknown option"},
		{`tokens('a b,c', ' ,')`, `["a","b","c"]`, ""},
		{`tokens('a\nb', ' ')`, `["a\\nb"]`, ""},
		{`concat('a', 'b')`, `"ab"`, ""},
		{`concat('a', 1)`, ``, "expected a string"},
		{`sprintf('~s-~p-~w-~B', 'a', 'b', 1.5, 42)`, `"a-<<\"b\">>-1.5-42"`, ""},
		{`sprintf('~p', m)`, `"#{<<\"a\">> => #{<<\"b\">> => 1},<<\"k\">> => 2}"`, ""},
		{`sprintf('~p ~p', l, true)`, `"[1,2,3] true"`, ""},
		{`sprintf('~f|~e|~c|~~|~n', 1.5, 1.5, 65)`, `"1.500000|1.50000e+0|A|~|\n"`, ""},
		{`sprintf('~s')`, ``, "too few"},
		{`sprintf('x', 1)`, ``, "left over"},
		{`sprintf('~s', 1)`, ``, "~s needs a string"},
		{`sprintf('~d', 1)`, ``, "unsupported directive"},
		{`sprintf('~', 1)`, ``, "ends with ~"},
		{`pad('ab', 5)`, `"ab   "`, ""},
		{`pad('ab', 5, 'leading')`, `"   ab"`, ""},
		{`pad('ab', 5, 'both', '*')`, `"*ab**"`, ""},
		{`pad('abcdef', 3)`, `"abcdef"`, ""},
		{`pad('a', 100000000)`, ``, "out of range"},
		{`pad('a', 3, 'trailing', '')`, ``, "empty padding"},
		{`replace('a-b-c', '-', '+')`, `"a+b+c"`, ""},
		{`replace('a-b-c', '-', '+', 'leading')`, `"a+b-c"`, ""},
		{`replace('a-b-c', '-', '+', 'trailing')`, `"a-b+c"`, ""},
		{`replace('abc', '', 'x')`, `"abc"`, ""},
		{`replace('abc', 'b', 1)`, ``, "expected a string"},
		{`regex_match('abc123', '[0-9]+')`, `true`, ""},
		{`regex_match('abc', '^b')`, `false`, ""},
		{`regex_match('abc', '(')`, ``, "invalid regular expression"},
		{`regex_replace('ab12cd3', '[0-9]+', '#')`, `"ab#cd#"`, ""},
		{`regex_replace('john smith', '(\w+) (\w+)', '\2 \1')`, `"smith john"`, ""},
		{`regex_replace('abc', 'b', '[&]')`, `"a[b]c"`, ""},
		{`regex_replace('abc', 'b', '\&')`, `"a&c"`, ""},
		{`ascii('A')`, `65`, ""},
		{`ascii('')`, ``, "empty"},
		{`find('a/b/c', '/')`, `"/b/c"`, ""},
		{`find('a/b/c', '/', 'trailing')`, `"/c"`, ""},
		{`find('abc', 'x')`, `""`, ""},
		{`find('abc', 'b', 'middle')`, ``, "unknown option"},
	})
}

func TestFuncsMap(t *testing.T) {
	runFuncCases(t, []fcase{
		{`map_new()`, `{}`, ""},
		{`map_get('a.b', m)`, `1`, ""},
		{`map_get('a.x', m)`, `undefined`, ""},
		{`map_get('a.x', m, 0)`, `0`, ""},
		{`map_get('x.y', payload)`, `5`, ""},
		{`map_get('a', 1, 'd')`, `"d"`, ""},
		{`map_get(1, m)`, ``, "expected a string"},
		{`map_put('a.c', 2, m)`, `{"a":{"b":1,"c":2},"k":2}`, ""},
		{`map_put('z', 1, map_new())`, `{"z":1}`, ""},
		{`map_put('z', nope, m)`, `{"a":{"b":1},"k":2}`, ""},
		{`map_put('z', 1, l)`, ``, "expected a map"},
		{`mget('k', m)`, `2`, ""},
		{`mget('a.b', m)`, `undefined`, ""},
		{`mget('q', m, 7)`, `7`, ""},
		{`mput('k', 3, m)`, `{"a":{"b":1},"k":3}`, ""},
		{`mput('k', 3, 'x')`, ``, "expected a map"},
		{`mput('k', 3, nope)`, ``, "expected a map"},
		{`mget('k', l)`, ``, "expected a map"},
		{`map_put('a', 1, nope)`, `{"a":1}`, ""},
	})
}

func TestFuncsArray(t *testing.T) {
	runFuncCases(t, []fcase{
		{`nth(1, l)`, `1`, ""},
		{`nth(3, l)`, `3`, ""},
		{`nth(0, l)`, ``, "out of range"},
		{`nth(4, l)`, ``, "out of range"},
		{`nth(-1, l)`, ``, "out of range"},
		{`nth(1, m)`, ``, "expected an array"},
		{`length(l)`, `3`, ""},
		{`length(e)`, `0`, ""},
		{`length('abc')`, ``, "expected an array"},
		{`sublist(2, l)`, `[1,2]`, ""},
		{`sublist(10, l)`, `[1,2,3]`, ""},
		{`sublist(-1, l)`, ``, "out of range"},
		{`sublist(2, 5, l)`, `[2,3]`, ""},
		{`sublist(4, 1, l)`, `[]`, ""},
		{`sublist(5, 1, l)`, ``, "out of range"},
		{`sublist(0, 1, l)`, ``, "out of range"},
		{`first(l)`, `1`, ""},
		{`first(e)`, ``, "empty list"},
		{`last(l)`, `3`, ""},
		{`last(e)`, ``, "empty list"},
		{`last(nope)`, ``, "got undefined"},
		{`contains(2, l)`, `true`, ""},
		{`contains(2.0, l)`, `false`, ""},
		{`contains(2, 'x')`, ``, "expected an array"},
	})
}

func TestFuncsHash(t *testing.T) {
	runFuncCases(t, []fcase{
		{`md5('abc')`, `"900150983cd24fb0d6963f7d28e17f72"`, ""},
		{`sha('abc')`, `"a9993e364706816aba3e25717850c26c9cd0d89d"`, ""},
		{`sha256('abc')`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`, ""},
		{`md5(1)`, ``, "expected a string"},
	})
}

func TestFuncsCodec(t *testing.T) {
	runFuncCases(t, []fcase{
		{`base64_encode('hello')`, `"aGVsbG8="`, ""},
		{`base64_decode('aGVsbG8=')`, `"hello"`, ""},
		{`base64_decode('!!')`, ``, "base64_decode"},
		{`base64_encode(1)`, ``, "expected a string"},
		{`json_encode(m)`, `"{\"a\":{\"b\":1},\"k\":2}"`, ""},
		{`json_encode(1.0)`, `"1.0"`, ""},
		{`json_decode('{"a":[1,2.0,null]}')`, `{"a":[1,2.0,null]}`, ""},
		{`json_decode('{')`, ``, "json_decode"},
		{`json_decode(1)`, ``, "expected a string"},
		{`gunzip(gzip('data data data'))`, `"data data data"`, ""},
		{`gunzip('nope')`, ``, "gunzip"},
		{`unzip(zip('data'))`, `"data"`, ""},
		{`unzip('nope')`, ``, "unzip"},
		{`zip_uncompress(zip_compress('data'))`, `"data"`, ""},
		{`zip_uncompress('nope')`, ``, "zip_uncompress"},
		{`bin2hexstr(term_encode(1))`, `"836101"`, ""},
		{`bin2hexstr(term_encode('ab'))`, `"836D000000026162"`, ""},
		{`term_decode(term_encode(m))`, `{"a":{"b":1},"k":2}`, ""},
		{`term_decode(term_encode([1, -5, 300, -9223372036854775808, 1.5, true, 'x', []]))`, `[1,-5,300,-9223372036854775808,1.5,true,"x",[]]`, ""},
		{`term_decode('x')`, ``, "not an Erlang external term"},
		{`term_decode(hexstr2bin('836D0000FFFF'))`, ``, "beyond the input"},
	})
}

func TestFuncsTime(t *testing.T) {
	runFuncCases(t, []fcase{
		{`now_timestamp() > 1600000000`, `true`, ""},
		{`now_timestamp('millisecond') > 1600000000000`, `true`, ""},
		{`now_timestamp('hour')`, ``, "unknown time unit"},
		{`rfc3339_to_unix_ts(now_rfc3339()) - now_timestamp() < 2`, `true`, ""},
		{`strlen(now_rfc3339('millisecond'))`, `29`, ""},
		{`rfc3339_to_unix_ts(unix_ts_to_rfc3339(1700000000))`, `1700000000`, ""},
		{`rfc3339_to_unix_ts(unix_ts_to_rfc3339(1700000000123, 'millisecond'), 'millisecond')`, `1700000000123`, ""},
		{`rfc3339_to_unix_ts('2023-11-14T22:13:20Z')`, `1700000000`, ""},
		{`rfc3339_to_unix_ts('2023-11-14T23:13:20+01:00', 'millisecond')`, `1700000000000`, ""},
		{`rfc3339_to_unix_ts('yesterday')`, ``, "not RFC 3339"},
		{`unix_ts_to_rfc3339('x')`, ``, "expected an integer"},
		{`format_date('second', '+08:00', '%Y-%m-%d %H:%M:%S%:z', 1700000000)`, `"2023-11-15 06:13:20+08:00"`, ""},
		{`format_date('millisecond', 'Z', '%Y%m%dT%H%M%S.%3N%z', 1700000000123)`, `"20231114T221320.123+0000"`, ""},
		{`format_date('second', -3600, '%H %::z %%', 1700000000)`, `"21 -01:00:00 %"`, ""},
		{`format_date('second', 'Z', '%Q', 1)`, ``, "unsupported directive"},
		{`format_date('second', 'nowhere', '%Y', 1)`, ``, "invalid time zone"},
		{`date_to_unix_ts('second', '%Y-%m-%d %H:%M:%S', '2023-11-14 22:13:20')`, `1700000000`, ""},
		{`date_to_unix_ts('second', '+08:00', '%Y-%m-%d %H:%M:%S', '2023-11-15 06:13:20')`, `1700000000`, ""},
		{`date_to_unix_ts('millisecond', '%Y-%m-%dT%H:%M:%S.%3N%:z', '2023-11-15T06:13:20.123+08:00')`, `1700000000123`, ""},
		{`date_to_unix_ts('second', '%Y-%m-%d', '2023-11')`, ``, "does not match"},
		{`timezone_to_second('+08:00')`, `28800`, ""},
		{`timezone_to_second('-0130')`, `-5400`, ""},
		{`timezone_to_second('Z')`, `0`, ""},
		{`timezone_to_second('+25:00')`, ``, "invalid time zone"},
		{`mongo_date(1700000000123)`, `"ISODate(\"2023-11-14T22:13:20.123Z\")"`, ""},
		{`mongo_date(1700000000, 'second')`, `"ISODate(\"2023-11-14T22:13:20.000Z\")"`, ""},
		{`strlen(mongo_date())`, `35`, ""},
	})
}

// TestEveryBuiltinTested fails when a registered function has no case in
// the tables above (the operators +, -, *, / are tested through Arith).
func TestEveryBuiltinTested(t *testing.T) {
	t.Run("families", func(t *testing.T) {
		TestFuncsContext(t)
		TestFuncsMath(t)
		TestFuncsBits(t)
		TestFuncsConv(t)
		TestFuncsPred(t)
		TestFuncsString(t)
		TestFuncsMap(t)
		TestFuncsArray(t)
		TestFuncsHash(t)
		TestFuncsCodec(t)
		TestFuncsTime(t)
	})
	for _, b := range Builtins() {
		switch b.Name {
		case "+", "-", "*", "/":
			continue
		}
		if !testedFuncs[b.Name] {
			t.Errorf("built-in %s has no test case", b.Name)
		}
	}
}

func TestBuiltinOperatorsAndArity(t *testing.T) {
	cases := []struct {
		name string
		args []Value
		want string
	}{
		{"+", []Value{int64(1), int64(2)}, `3`},
		{"-", []Value{int64(1), 2.5}, `-1.5`},
		{"*", []Value{int64(3), int64(2)}, `6`},
		{"/", []Value{int64(8), int64(2)}, `4.0`},
	}
	for _, c := range cases {
		b, ok := LookupBuiltin(c.name)
		if !ok {
			t.Fatalf("%s not registered", c.name)
		}
		v, err := b.Call(nil, c.args)
		if err != nil || string(EncodeJSON(v)) != c.want {
			t.Errorf("%s%v = %v, %v; want %s", c.name, c.args, v, err, c.want)
		}
	}
	b, _ := LookupBuiltin("abs")
	if _, err := b.Call(nil, nil); err == nil || !strings.Contains(err.Error(), "takes 1 argument") {
		t.Errorf("abs() = %v, want arity error", err)
	}
	if _, ok := LookupBuiltin("ABS"); ok {
		t.Error("function names must be case-sensitive")
	}
}
