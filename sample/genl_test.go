package sample

// No kernel gwd is tested on has psample or the drop monitor (NET_DM):
// these tests feed the readers messages constructed here, attribute by
// attribute as the kernel lays them out (include/uapi/linux/psample.h,
// net_dropmon.h), through the genetlink test connection (genltest).

import (
	"errors"
	"io"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"gwd/internal/app"
)

// genlTestConn serves family (with multicast groups "config" = 1 and
// group = 2) and hands out msgs, once, to the first Receive.
func genlTestConn(t *testing.T, family, group string, msgs []genetlink.Message) *genlConn {
	t.Helper()
	sent := false
	fam := genetlink.Family{ID: 0x20, Name: family, Version: 1,
		Groups: []genetlink.MulticastGroup{{ID: 1, Name: "config"}, {ID: 2, Name: group}}}
	c := genltest.Dial(genltest.ServeFamily(fam, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Type != 0 { // a request: acknowledge it
			return nil, io.EOF
		}
		if sent {
			return nil, errors.New("no more messages")
		}
		sent = true
		return msgs, nil
	}))
	t.Cleanup(func() { c.Close() })
	g, err := attachGenl(c, family, group, false)
	if err != nil {
		t.Fatal(err)
	}
	if g.group != 2 {
		t.Fatalf("multicast group id %d, want 2", g.group)
	}
	return g
}

func encode(t testing.TB, f func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	f(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenlAbsentFamily: a kernel without the family is app.ErrAbsent.
func TestGenlAbsentFamily(t *testing.T) {
	c := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	defer c.Close()
	_, err := attachGenl(c, psampleFamily, psampleMcastGroup, false)
	if !errors.Is(err, app.ErrAbsent) {
		t.Fatalf("err = %v, want app.ErrAbsent", err)
	}
	// A family without the group is absent too.
	fam := genetlink.Family{ID: 0x21, Name: "NET_DM", Version: 2}
	c2 := genltest.Dial(genltest.ServeFamily(fam, nil))
	defer c2.Close()
	if _, err := attachGenl(c2, dropmonFamily, dropmonMcastGroup, false); !errors.Is(err, app.ErrAbsent) {
		t.Fatalf("err = %v, want app.ErrAbsent", err)
	}
}
