package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// slogger is gobgp's log.Logger over gwd's slog logger, quietened one
// step: gobgp's errors are warnings, its warnings info, its info debug.
// Fatal and Panic do not end the process. A notification gobgp sends to a
// neighbour (a bad peer AS, a hold timer that expired) goes to notify as
// well, so that the session's state can say why it is down.
type slogger struct {
	log    *slog.Logger
	notify func(neighbor string, err error)
}

var _ gobgplog.Logger = (*slogger)(nil)

func (l *slogger) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	if msg == "sent notification" || msg == "received notification" {
		if key, ok := fields["Key"].(string); ok && l.notify != nil {
			var err error
			switch d := fields["Data"].(type) {
			case *bgp.MessageError:
				err = errors.New(d.Message)
			case error:
				err = d
			default:
				err = fmt.Errorf("notification (code %v, subcode %v)", fields["Code"], fields["Subcode"])
				if r, _ := fields["Communicated-Reason"].(string); r != "" {
					err = fmt.Errorf("%w: %s", err, r)
				}
			}
			if msg == "received notification" {
				err = fmt.Errorf("neighbor sent a %w", err)
			}
			l.notify(key, err)
		}
	}
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, strings.ToLower(strings.TrimPrefix(k, "_")), fields[k])
	}
	l.log.Log(ctx, level, "gobgp: "+msg, args...)
}

func (l *slogger) Panic(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *slogger) Fatal(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *slogger) Error(msg string, f gobgplog.Fields) { l.emit(slog.LevelWarn, msg, f) }
func (l *slogger) Warn(msg string, f gobgplog.Fields)  { l.emit(slog.LevelInfo, msg, f) }
func (l *slogger) Info(msg string, f gobgplog.Fields)  { l.emit(slog.LevelDebug, msg, f) }
func (l *slogger) Debug(msg string, f gobgplog.Fields) { l.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the level is slog's.
func (l *slogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel reports what slog would let through.
func (l *slogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.WarnLevel
}
