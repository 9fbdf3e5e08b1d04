package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeFuncs: the clock and [4.4] date conversions. Units are 'second'
// (default), 'millisecond', 'microsecond', 'nanosecond'. RFC 3339 text is
// rendered in the local time zone with a numeric offset, as EMQX does.
var timeFuncs = []Builtin{
	fnN("now_timestamp", 0, 1, func(a []Value) (Value, error) {
		u, err := unitArg("now_timestamp", a, 0)
		if err != nil {
			return nil, err
		}
		return time.Now().UnixNano() / int64(u), nil
	}),
	fnN("now_rfc3339", 0, 1, func(a []Value) (Value, error) {
		u, err := unitArg("now_rfc3339", a, 0)
		if err != nil {
			return nil, err
		}
		return formatRFC3339(time.Now(), u), nil
	}),
	fnN("unix_ts_to_rfc3339", 1, 2, func(a []Value) (Value, error) {
		ts, err := argInt("unix_ts_to_rfc3339", a[0])
		if err != nil {
			return nil, err
		}
		u, err := unitArg("unix_ts_to_rfc3339", a, 1)
		if err != nil {
			return nil, err
		}
		t, err := fromUnit("unix_ts_to_rfc3339", ts, u)
		if err != nil {
			return nil, err
		}
		return formatRFC3339(t, u), nil
	}),
	fnN("rfc3339_to_unix_ts", 1, 2, func(a []Value) (Value, error) {
		s, err := argStr("rfc3339_to_unix_ts", a[0])
		if err != nil {
			return nil, err
		}
		u, err := unitArg("rfc3339_to_unix_ts", a, 1)
		if err != nil {
			return nil, err
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return nil, evalErr("rfc3339_to_unix_ts: %q is not RFC 3339 text", clip(s))
		}
		return toUnit(t, u), nil
	}),
	fnN("format_date", 3, 4, formatDateFn),
	fnN("date_to_unix_ts", 3, 4, dateToUnixFn),
	fn1("timezone_to_second", func(a Value) (Value, error) {
		s, err := argStr("timezone_to_second", a)
		if err != nil {
			return nil, err
		}
		off, err := parseOffset("timezone_to_second", s, time.Now())
		return int64(off), err
	}),
	fnN("mongo_date", 0, 2, func(a []Value) (Value, error) {
		t := time.Now()
		if len(a) > 0 {
			ts, err := argInt("mongo_date", a[0])
			if err != nil {
				return nil, err
			}
			u, err := unitArg("mongo_date", a, 1)
			if err != nil {
				return nil, err
			}
			if u == time.Second && len(a) == 1 {
				u = time.Millisecond // mongo_date(ts) takes milliseconds
			}
			if t, err = fromUnit("mongo_date", ts, u); err != nil {
				return nil, err
			}
		}
		return `ISODate("` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `")`, nil
	}),
}

func unitArg(fn string, a []Value, i int) (time.Duration, error) {
	if len(a) <= i {
		return time.Second, nil
	}
	s, err := argStr(fn, a[i])
	if err != nil {
		return 0, err
	}
	switch s {
	case "second":
		return time.Second, nil
	case "millisecond":
		return time.Millisecond, nil
	case "microsecond":
		return time.Microsecond, nil
	case "nanosecond":
		return time.Nanosecond, nil
	}
	return 0, evalErr("%s: unknown time unit %q (second, millisecond, microsecond, nanosecond)", fn, clip(s))
}

func fromUnit(fn string, ts int64, u time.Duration) (time.Time, error) {
	per := int64(u)
	limit := int64(1<<62) / per
	if ts > limit || ts < -limit {
		return time.Time{}, evalErr("%s: timestamp %d out of range", fn, ts)
	}
	return time.Unix(0, 0).Add(time.Duration(ts * per)), nil
}

func toUnit(t time.Time, u time.Duration) int64 {
	switch u {
	case time.Second:
		return t.Unix()
	case time.Millisecond:
		return t.UnixMilli()
	case time.Microsecond:
		return t.UnixMicro()
	}
	return t.UnixNano()
}

func formatRFC3339(t time.Time, u time.Duration) string {
	layout := "2006-01-02T15:04:05"
	switch u {
	case time.Millisecond:
		layout += ".000"
	case time.Microsecond:
		layout += ".000000"
	case time.Nanosecond:
		layout += ".000000000"
	}
	return t.In(time.Local).Format(layout + "-07:00")
}

// parseOffset reads a time zone offset: "Z", "local", "+08:00", "-0330",
// "+08" (an integer offset in seconds is accepted by offsetArg).
func parseOffset(fn, s string, at time.Time) (int, error) {
	switch strings.ToLower(s) {
	case "z", "utc":
		return 0, nil
	case "local":
		_, off := at.In(time.Local).Zone()
		return off, nil
	}
	if len(s) >= 3 && (s[0] == '+' || s[0] == '-') {
		digits := strings.ReplaceAll(s[1:], ":", "")
		if allDigits(digits) && (len(digits) == 2 || len(digits) == 4 || len(digits) == 6) {
			var parts [3]int
			for i := 0; i*2 < len(digits); i++ {
				parts[i], _ = strconv.Atoi(digits[i*2 : i*2+2])
			}
			off := parts[0]*3600 + parts[1]*60 + parts[2]
			if parts[0] < 24 && parts[1] < 60 && parts[2] < 60 {
				if s[0] == '-' {
					off = -off
				}
				return off, nil
			}
		}
	}
	return 0, evalErr("%s: invalid time zone offset %q", fn, clip(s))
}

func offsetArg(fn string, v Value, at time.Time) (int, error) {
	switch x := v.(type) {
	case int64:
		if x < -86400 || x > 86400 {
			return 0, evalErr("%s: offset %d out of range", fn, x)
		}
		return int(x), nil
	case string:
		return parseOffset(fn, x, at)
	}
	return 0, badArg(fn, v, "a time zone offset")
}

func formatOffset(off int, colons int) string {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	h, m, s := off/3600, off/60%60, off%60
	switch colons {
	case 0:
		return fmt.Sprintf("%c%02d%02d", sign, h, m)
	case 1:
		return fmt.Sprintf("%c%02d:%02d", sign, h, m)
	}
	return fmt.Sprintf("%c%02d:%02d:%02d", sign, h, m, s)
}

// format_date(unit, offset, formatter[, ts]): %Y %m %d %H %M %S, %N (9
// digits of nanoseconds), %3N %6N %9N, %z (+hhmm), %:z, %::z, %%.
func formatDateFn(a []Value) (Value, error) {
	const fn = "format_date"
	u, err := unitArg(fn, a, 0)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	if len(a) == 4 {
		ts, err := argInt(fn, a[3])
		if err != nil {
			return nil, err
		}
		if t, err = fromUnit(fn, ts, u); err != nil {
			return nil, err
		}
	}
	off, err := offsetArg(fn, a[1], t)
	if err != nil {
		return nil, err
	}
	f, err := argStr(fn, a[2])
	if err != nil {
		return nil, err
	}
	t = t.In(time.FixedZone("", off))
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		d, n := directive(f[i+1:])
		i += n
		switch d {
		case "Y":
			fmt.Fprintf(&b, "%04d", t.Year())
		case "m":
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case "d":
			fmt.Fprintf(&b, "%02d", t.Day())
		case "H":
			fmt.Fprintf(&b, "%02d", t.Hour())
		case "M":
			fmt.Fprintf(&b, "%02d", t.Minute())
		case "S":
			fmt.Fprintf(&b, "%02d", t.Second())
		case "N", "9N":
			fmt.Fprintf(&b, "%09d", t.Nanosecond())
		case "3N":
			fmt.Fprintf(&b, "%03d", t.Nanosecond()/1e6)
		case "6N":
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1e3)
		case "z":
			b.WriteString(formatOffset(off, 0))
		case ":z":
			b.WriteString(formatOffset(off, 1))
		case "::z":
			b.WriteString(formatOffset(off, 2))
		case "%":
			b.WriteByte('%')
		default:
			return nil, evalErr("%s: unsupported directive %%%s", fn, d)
		}
	}
	return b.String(), nil
}

// directive reads a format directive after '%'; n is its length.
func directive(s string) (d string, n int) {
	for _, x := range []string{"::z", ":z", "3N", "6N", "9N"} {
		if strings.HasPrefix(s, x) {
			return x, len(x)
		}
	}
	return s[:1], 1
}

// date_to_unix_ts(unit, [offset,] formatter, text) parses text laid out as
// in format_date; the offset applies when the text has no %z part.
func dateToUnixFn(a []Value) (Value, error) {
	const fn = "date_to_unix_ts"
	u, err := unitArg(fn, a, 0)
	if err != nil {
		return nil, err
	}
	off := 0
	rest := a[1:]
	if len(a) == 4 {
		if off, err = offsetArg(fn, a[1], time.Now()); err != nil {
			return nil, err
		}
		rest = a[2:]
	}
	f, err := argStr(fn, rest[0])
	if err != nil {
		return nil, err
	}
	s, err := argStr(fn, rest[1])
	if err != nil {
		return nil, err
	}
	fields := map[string]int{"Y": 1970, "m": 1, "d": 1}
	bad := func() (Value, error) {
		return nil, evalErr("%s: %q does not match the format %q", fn, clip(s), clip(f))
	}
	num := func(width int) (int, bool) {
		if len(s) < width || !allDigits(s[:width]) {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:width])
		s = s[width:]
		return n, true
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			if s == "" || s[0] != f[i] {
				return bad()
			}
			s = s[1:]
			continue
		}
		d, n := directive(f[i+1:])
		i += n
		widths := map[string]int{"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "N": 9, "9N": 9, "3N": 3, "6N": 6}
		switch d {
		case "z", ":z", "::z":
			j := 1
			for j < len(s) && (isDigit(s[j]) || s[j] == ':') {
				j++
			}
			o, err := parseOffset(fn, s[:j], time.Now())
			if err != nil {
				return bad()
			}
			off, s = o, s[j:]
		case "%":
			if s == "" || s[0] != '%' {
				return bad()
			}
			s = s[1:]
		default:
			w, ok := widths[d]
			if !ok {
				return nil, evalErr("%s: unsupported directive %%%s", fn, d)
			}
			v, ok := num(w)
			if !ok {
				return bad()
			}
			fields[d] = v
		}
	}
	if s != "" {
		return bad()
	}
	ns := fields["N"] + fields["9N"] + fields["3N"]*1e6 + fields["6N"]*1e3
	t := time.Date(fields["Y"], time.Month(fields["m"]), fields["d"], fields["H"], fields["M"], fields["S"], ns, time.UTC)
	t = t.Add(-time.Duration(off) * time.Second)
	return toUnit(t, u), nil
}
