package api

import (
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
)

// Paging defaults, as EMQX 4: _page counts from 1; _limit defaults to 10000, which is also its
// maximum (a larger _limit is lowered to it).
const (
	DefaultPage  = 1
	DefaultLimit = 10000
	MaxLimit     = 10000
)

// Paging is one request's _page and _limit.
type Paging struct {
	Page  int
	Limit int
}

// ParsePaging reads _page and _limit from a query. Absent or empty values take the defaults; a
// value that is not a positive integer is an error (400, CodeBadParam); _limit is capped at
// MaxLimit.
func ParsePaging(q url.Values) (Paging, error) {
	p := Paging{Page: DefaultPage, Limit: DefaultLimit}
	var err error
	if p.Page, err = positive(q, "_page", DefaultPage); err != nil {
		return p, err
	}
	if p.Limit, err = positive(q, "_limit", DefaultLimit); err != nil {
		return p, err
	}
	p.Limit = min(p.Limit, MaxLimit)
	return p, nil
}

func positive(q url.Values, name string, def int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return def, Errorf(http.StatusBadRequest, CodeBadParam, "%s must be a positive integer, got %q", name, truncate(s, 32))
	}
	return n, nil
}

// window returns the [start, end) item indexes of this page, without overflow.
func (p Paging) window() (start, end int) {
	const maxInt = int(^uint(0) >> 1)
	if p.Page-1 > maxInt/p.Limit {
		return maxInt, maxInt
	}
	start = (p.Page - 1) * p.Limit
	if start > maxInt-p.Limit {
		return start, maxInt
	}
	return start, start + p.Limit
}

// Collect walks seq, keeps the items of this page and counts them all. It returns the page's items
// (never nil) and the meta to reply with.
func Collect[T any](p Paging, seq iter.Seq[T]) ([]T, Meta) {
	start, end := p.window()
	items := make([]T, 0, min(p.Limit, 64))
	n := 0
	for v := range seq {
		if n >= start && n < end {
			items = append(items, v)
		}
		n++
	}
	return items, Meta{Page: p.Page, Limit: p.Limit, UPage: p.Page, ULimit: p.Limit, Count: n, HasNext: n > end}
}

// Page replies 200 with one page of seq, as {"code":0,"data":[…],"meta":{…}}, reading _page and
// _limit from the request.
func Page[T any](c echo.Context, seq iter.Seq[T]) error {
	p, err := ParsePaging(c.QueryParams())
	if err != nil {
		return err
	}
	items, meta := Collect(p, seq)
	return c.JSON(http.StatusOK, Envelope{Code: CodeOK, Data: items, Meta: &meta})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
