package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Result codes of the envelope's "code" field. 0 is success; the others are EMQX 4's codes where
// EMQX has one, and the HTTP status otherwise.
const (
	CodeOK                 = 0   // success
	CodeUnknown            = 102 // internal error
	CodeBadCredentials     = 103 // wrong username (app id) or password (secret)
	CodeNoCredentials      = 104 // missing or empty credentials
	CodeUserNotFound       = 105 // no such dashboard user
	CodeAdminUndeletable   = 106 // the user admin cannot be deleted
	CodeMissingParam       = 107 // a required parameter is missing
	CodeBadParam           = 108 // a parameter has a wrong value
	CodeBadJSON            = 109 // the body is not valid JSON
	CodeClientNotFound     = 112 // no such MQTT client
	CodeUserExists         = 113 // the user (or app) already exists
	CodeOldPasswordWrong   = 114 // the old password given to change_pwd is wrong
	CodeInvalidTopic       = 115 // the topic is not a valid MQTT topic name or filter
	CodeNotFound           = 404 // no such route or resource
	CodeMethodNotAllowed   = 405 // the route exists, the method does not
	CodeConflict           = 409 // the resource already exists or is in use
	CodeTooLarge           = 413 // the body exceeds the route's limit
	CodeServiceUnavailable = 503 // the feature behind the route is not available
)

// Envelope is the JSON shape of every /api/v4 reply.
type Envelope struct {
	Code    int    `json:"code" doc:"0 on success, non-zero on error"`
	Data    any    `json:"data,omitempty"`
	Meta    *Meta  `json:"meta,omitempty"`
	Message string `json:"message,omitempty" doc:"what went wrong, on errors"`
}

// Meta describes one page of a paged list. Page and Limit repeat the request's _page and _limit
// (under both EMQX 4.2's "page"/"limit" names and the query parameters' "_page"/"_limit" names);
// Count is the number of items matching the filters across all pages; HasNext tells whether a
// further page has items (EMQX 4.3).
type Meta struct {
	Page    int  `json:"page"`
	Limit   int  `json:"limit"`
	UPage   int  `json:"_page"`
	ULimit  int  `json:"_limit"`
	Count   int  `json:"count"`
	HasNext bool `json:"hasnext"`
}

// Error is an API error: the HTTP status, the envelope code and the message shown to the caller.
// Err, when set, is the cause; it is logged but not shown.
type Error struct {
	Status  int
	Code    int
	Message string
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given HTTP status, envelope code and formatted message.
func Errorf(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 error with code CodeBadParam.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeBadParam, format, args...)
}

// NotFound returns a 404 error with code CodeNotFound.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

// Internal returns a 500 error with code CodeUnknown; err is logged, not shown.
func Internal(op string, err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeUnknown, Message: "internal error: " + op, Err: err}
}

// OK replies 200 with {"code":0,"data":data}.
func OK(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, Envelope{Code: CodeOK, Data: data})
}

// Created replies 201 with {"code":0,"data":data}.
func Created(c echo.Context, data any) error {
	return c.JSON(http.StatusCreated, Envelope{Code: CodeOK, Data: data})
}

// Done replies 200 with {"code":0} and no data.
func Done(c echo.Context) error {
	return c.JSON(http.StatusOK, Envelope{Code: CodeOK})
}

// Bind decodes the JSON request body into v. An empty body leaves v unchanged; a body that is not
// JSON, or does not fit v, is a 400 error with code CodeBadJSON; a body over the route's limit is a
// 413 error.
func Bind(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body over %d bytes", mbe.Limit)
		}
		return Errorf(http.StatusBadRequest, CodeBadJSON, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, CodeBadJSON, "invalid JSON body: trailing data")
	}
	return nil
}

// errorHandler is the echo HTTPErrorHandler: every error, including echo's own 404 and 405,
// becomes an envelope with the matching status.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *Error
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		if he.Code == http.StatusMethodNotAllowed && c.Path() == "/*" {
			he = echo.ErrNotFound // only the dashboard's GET /* matched: the path does not exist
		}
		ae = &Error{Status: he.Code, Code: he.Code, Message: http.StatusText(he.Code), Err: he.Internal}
		if m, ok := he.Message.(string); ok && m != "" {
			ae.Message = m
		}
		if (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) && underAPI(c.Request().URL.Path) {
			// Unknown API paths need credentials too: a caller without them learns nothing.
			if _, ok := PrincipalFrom(c); !ok {
				if aerr := s.auth.authenticate(c); aerr != nil {
					s.errorHandler(aerr, c)
					return
				}
			}
		}
		switch he.Code {
		case http.StatusNotFound:
			ae.Code, ae.Message = CodeNotFound, "not found: "+c.Request().URL.Path
		case http.StatusMethodNotAllowed:
			ae.Code, ae.Message = CodeMethodNotAllowed, "method "+c.Request().Method+" not allowed on "+c.Request().URL.Path
		case http.StatusBadRequest:
			ae.Code = CodeBadParam
		case http.StatusUnauthorized:
			ae.Code = CodeNoCredentials
		case http.StatusRequestEntityTooLarge:
			ae.Code = CodeTooLarge
		}
	case errors.As(err, &mbe):
		ae = Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body over %d bytes", mbe.Limit)
	default:
		ae = Internal(c.Request().Method+" "+c.Path(), err)
	}
	if ae.Status == 0 {
		ae.Status = http.StatusInternalServerError
	}
	if ae.Code == CodeOK {
		ae.Code = CodeUnknown
	}
	if ae.Status >= 500 {
		s.log.Error("api request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", ae.Status, "err", err)
	} else {
		s.log.Debug("api request refused", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", ae.Status, "code", ae.Code, "message", ae.Message)
	}
	if ae.Status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="wedge"`)
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(ae.Status)
	} else {
		werr = c.JSON(ae.Status, Envelope{Code: ae.Code, Message: ae.Message})
	}
	if werr != nil {
		s.log.Debug("api error reply not sent", "err", werr)
	}
}

// recoverer turns a handler's panic into a 500 envelope and a log line with the stack's cause.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = Internal(c.Request().Method+" "+c.Path(), fmt.Errorf("panic: %v", r))
			}
		}()
		return next(c)
	}
}

// requestLog logs every request at debug level.
func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			if log.Enabled(c.Request().Context(), slog.LevelDebug) {
				status := c.Response().Status
				var ae *Error
				if errors.As(err, &ae) {
					status = ae.Status
				}
				log.Debug("api request", "method", c.Request().Method, "path", c.Request().URL.Path,
					"status", status, "remote", c.RealIP())
			}
			return err
		}
	}
}
