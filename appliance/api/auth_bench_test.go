package api

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkVerify compares a cached verification with a full bcrypt one at the production cost:
// the ratio is what the cache saves on every API call.
func BenchmarkVerify(b *testing.B) {
	db := openDB(b, filepath.Join(b.TempDir(), "wedge.db"))
	defer db.Close()
	opts := testOptions(db, io.Discard)
	opts.AdminPassword = "bench-password"
	opts.passwordCost = bcrypt.DefaultCost
	s, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("bcrypt", func(b *testing.B) {
		for b.Loop() {
			s.auth.invalidate()
			if _, err := s.auth.verify(ctx, AdminUser, "bench-password"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		if _, err := s.auth.verify(ctx, AdminUser, "bench-password"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.auth.verify(ctx, AdminUser, "bench-password"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
