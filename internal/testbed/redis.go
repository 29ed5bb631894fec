package testbed

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/internal/testutil"
)

// Redis is a private redis-server: no persistence, listening on a free
// TCP port of 127.0.0.1 and on a unix socket in its directory.
type Redis struct {
	Dir  string // private directory: socket, log
	Port int    // TCP port on 127.0.0.1
	Sock string // unix socket path

	path string // of redis-server
	d    *daemon
}

// Addr is the server's TCP address, "127.0.0.1:<Port>".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// StartRedis starts redis-server and waits until it answers PING. It is
// stopped when the test ends. A missing redis-server calls Missing.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	Integration(t)
	path := NeedCommand(t, "redis-server")
	dir := privateDir(t, "gwdredis")
	r := &Redis{Dir: dir, Port: testutil.FreeTCPPort(t, "127.0.0.1"), Sock: filepath.Join(dir, "redis.sock"), path: path}
	t.Cleanup(func() {
		if t.Failed() && r.d != nil {
			t.Logf("testbed: redis-server\n%s", r.d.tails([]string{"redis.log"}))
		}
		r.stop()
	})
	r.Start(t)
	return r
}

// Start starts the server again after Stop, on the same port, socket and
// directory, with empty databases (as after a reboot without persistence).
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if r.d != nil {
		select {
		case <-r.d.exited:
		default:
			t.Fatalf("testbed: redis-server already running")
		}
	}
	r.d = spawn(t, r.Dir, r.path, nil, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--unixsocket", r.Sock, "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		"--dir", r.Dir, "--daemonize", "no", "--logfile", filepath.Join(r.Dir, "redis.log"))
	r.d.waitReady(t, 10*time.Second, r.ping, "redis.log")
}

// Stop stops the server by its PID; clients see the connection drop.
func (r *Redis) Stop(t testing.TB) { r.stop() }

func (r *Redis) stop() {
	if r.d != nil {
		r.d.stop()
	}
}

// ping sends PING over TCP and expects PONG.
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
