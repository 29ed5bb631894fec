package host

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
)

// netlinkLinkEvents subscribes to rtnetlink link notifications (RTNLGRP_LINK:
// interfaces added, removed, renamed, going up or down) of the current
// network namespace. The returned channel gets a value (coalesced) per
// burst of events and is closed when the subscription ends: when ctx ends,
// or when the socket fails (the caller then falls back to periodic scans).
func netlinkLinkEvents(ctx context.Context, changed func(ifIndex uint32)) (<-chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(error) {}, // a failed receive closes updates; we notice that
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to netlink link events: %w", err)
	}
	out := make(chan struct{}, 1)
	drained := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-drained: // the socket failed: release the library's closer
		}
		close(done)
	}()
	go func() {
		defer close(out)
		defer close(drained)
		// Drain until the library closes updates (it blocks sending
		// otherwise, even after done).
		for u := range updates {
			if changed != nil && u.Attrs() != nil {
				changed(uint32(u.Attrs().Index))
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, nil
}
