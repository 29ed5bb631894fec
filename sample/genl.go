package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// genlConn is a generic netlink socket joined to one multicast group of
// one family (psample "packets", NET_DM "events").
type genlConn struct {
	c      *genetlink.Conn
	family genetlink.Family
	group  uint32
}

// dialGenl opens a generic netlink socket and joins family's multicast
// group. A kernel without the family is app.ErrAbsent.
func dialGenl(family, group string) (*genlConn, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("generic netlink: %w", err)
	}
	g, err := attachGenl(c, family, group, true)
	if err != nil {
		c.Close()
		return nil, err
	}
	return g, nil
}

// attachGenl looks family up on c and finds its multicast group; join
// joins it (the genltest connections of the tests cannot).
func attachGenl(c *genetlink.Conn, family, group string, join bool) (*genlConn, error) {
	f, err := c.GetFamily(family)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, absent("generic netlink family "+family, err)
		}
		return nil, fmt.Errorf("generic netlink family %s: %w", family, err)
	}
	g := &genlConn{c: c, family: f}
	found := false
	for _, mg := range f.Groups {
		if mg.Name == group {
			g.group, found = mg.ID, true
		}
	}
	if !found {
		return nil, absent(fmt.Sprintf("multicast group %q of family %s", group, family), os.ErrNotExist)
	}
	if join {
		if err := c.JoinGroup(g.group); err != nil {
			return nil, fmt.Errorf("joining %s group %q: %w", family, group, err)
		}
		// A burst larger than the buffer is counted (ENOBUFS), not fatal.
		_ = c.SetReadBuffer(4 << 20)
	}
	return g, nil
}

func (g *genlConn) close() { g.c.Close() }

// receiveOnce reads one batch of messages and hands each to h. It returns
// the number of messages lost to a full socket buffer (ENOBUFS) and any
// other error.
func (g *genlConn) receiveOnce(h func(genetlink.Message) error, onErr func(error)) (lost int, err error) {
	msgs, _, err := g.c.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return 1, nil
		}
		return 0, err
	}
	for _, m := range msgs {
		if err := h(m); err != nil && onErr != nil {
			onErr(err)
		}
	}
	return 0, nil
}

// run receives until ctx ends. Malformed messages are logged (once per
// distinct error text in a row) and skipped.
func (g *genlConn) run(ctx context.Context, log *slog.Logger, h func(genetlink.Message) error) {
	stop := context.AfterFunc(ctx, func() { _ = g.c.SetReadDeadline(time.Now()) })
	defer stop()
	last := ""
	onErr := func(err error) {
		if s := err.Error(); s != last {
			last = s
			log.Warn("skipping a malformed message", "family", g.family.Name, "err", err)
		}
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if _, err := g.receiveOnce(h, onErr); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("receive", "family", g.family.Name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// execute sends a request of the family and waits for the kernel's ack.
func (g *genlConn) execute(cmd uint8, attrs func(*netlink.AttributeEncoder)) error {
	ae := netlink.NewAttributeEncoder()
	if attrs != nil {
		attrs(ae)
	}
	data, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = g.c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: g.family.Version}, Data: data},
		g.family.ID, netlink.Request|netlink.Acknowledge)
	return err
}
