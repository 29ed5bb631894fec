package testutil

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// SyncBuffer is a bytes.Buffer that a logger in another goroutine may
// write to while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len returns how many bytes were written so far.
func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// Count returns how many times sub occurs in what was written so far.
func (s *SyncBuffer) Count(sub string) int { return strings.Count(s.String(), sub) }

// Logger returns a text logger at level that writes into a new SyncBuffer.
func Logger(level slog.Level) (*slog.Logger, *SyncBuffer) {
	b := &SyncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level})), b
}
