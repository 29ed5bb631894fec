package asic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gwd/config"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// SONiCConfig configures the sonic backend.
type SONiCConfig struct {
	// DBConfig is SONiC's database_config.json (default
	// /var/run/redis/sonic-db/database_config.json); it names the redis
	// instance and database number of each SONiC database.
	DBConfig string `key:"db_config" default:"/var/run/redis/sonic-db/database_config.json" type:"path" doc:"SONiC's database map (names to numbers, socket/port)"`
	// Transport is how to reach redis: "auto" (default: the instance's
	// unix socket when it exists, else TCP), "unix" or "tcp".
	Transport string `key:"transport" default:"auto" enum:"auto|unix|tcp" doc:"how to reach SONiC's redis"`
	// Watermarks is the SONiC watermark table gwd follows: "persistent"
	// (default, PERSISTENT_WATERMARKS) or "user" (USER_WATERMARKS). gwd
	// only reads it; see docs/asic.md for why and how.
	Watermarks string `key:"watermarks" default:"persistent" enum:"persistent|user" doc:"which SONiC watermark tables to follow (gwd never clears them)"`
	// MulticastPools names the buffer pools that count as multicast in
	// 4413:1 (default none: mc_pc is unknown); every other pool counts as
	// unicast.
	MulticastPools []string `key:"multicast_pools" doc:"buffer pools counted as multicast for 4413:1 mc_pc"`
	// Timeout bounds each redis round trip (default 2s).
	Timeout time.Duration `key:"timeout" default:"2s" min:"100ms" max:"1h" doc:"per redis call"`
}

func (c *SONiCConfig) normalize() error {
	config.FillZero(c)
	switch c.Transport {
	case "auto", "unix", "tcp":
	default:
		return fmt.Errorf("asic: sonic.transport %q: want auto, unix or tcp", c.Transport)
	}
	switch c.Watermarks {
	case "persistent", "user":
	default:
		return fmt.Errorf("asic: sonic.watermarks %q: want persistent or user", c.Watermarks)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("asic: sonic.timeout %v is negative", c.Timeout)
	}
	return nil
}

// sonicDBConfig is the part of database_config.json gwd reads.
type sonicDBConfig struct {
	Instances map[string]struct {
		Hostname       string `json:"hostname"`
		Port           int    `json:"port"`
		UnixSocketPath string `json:"unix_socket_path"`
	} `json:"INSTANCES"`
	Databases map[string]struct {
		ID        int    `json:"id"`
		Separator string `json:"separator"`
		Instance  string `json:"instance"`
	} `json:"DATABASES"`
}

// loadSONiCDBConfig reads database_config.json.
func loadSONiCDBConfig(path string) (*sonicDBConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("SONiC database config %s: %w", path, ErrNotAvailable)
		}
		return nil, fmt.Errorf("SONiC database config: %w", err)
	}
	c, err := parseSONiCDBConfig(b)
	if err != nil {
		return nil, fmt.Errorf("SONiC database config %s: %w", path, err)
	}
	return c, nil
}

// parseSONiCDBConfig parses and checks database_config.json.
func parseSONiCDBConfig(b []byte) (*sonicDBConfig, error) {
	var c sonicDBConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if len(c.Databases) == 0 {
		return nil, errors.New("no DATABASES")
	}
	for name, db := range c.Databases {
		if _, ok := c.Instances[db.Instance]; !ok {
			return nil, fmt.Errorf("database %s is on instance %q, which INSTANCES does not list", name, db.Instance)
		}
		if db.ID < 0 || db.ID > 1<<16 {
			return nil, fmt.Errorf("database %s has id %d", name, db.ID)
		}
	}
	return &c, nil
}

// separator is the key separator of database db (":" unless configured).
func (c *sonicDBConfig) separator(db string) string {
	if d, ok := c.Databases[db]; ok && d.Separator != "" {
		return d.Separator
	}
	if db == "CONFIG_DB" || db == "STATE_DB" {
		return "|"
	}
	return ":"
}

// sonicDB is the little of redis the sonic backend needs, by SONiC
// database name. Missing keys and fields are not errors.
type sonicDB interface {
	// hgetall returns each key's hash (empty when the key does not exist).
	hgetall(ctx context.Context, db string, keys []string) ([]map[string]string, error)
	// hget returns one field of each key; ok[i] is false where it is missing.
	hget(ctx context.Context, db, field string, keys []string) (vals []string, ok []bool, err error)
	// scan lists the keys that match a redis glob pattern.
	scan(ctx context.Context, db, pattern string) ([]string, error)
	close() error
}

// dbError marks a failure to talk to redis (as opposed to missing data):
// the read stops at the first one.
type dbError struct{ err error }

func (e *dbError) Error() string { return e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// redisLog sends go-redis's own log lines (dial retries and the like,
// which the errors gwd reports already cover) to debug level; go-redis has
// one process-wide logger.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "asic: go-redis: "+fmt.Sprintf(format, v...))
}

var redisLogOnce sync.Once

// redisDB is sonicDB over go-redis: one client per (instance, database).
type redisDB struct {
	cfg     *sonicDBConfig
	mu      sync.Mutex
	clients map[string]*redis.Client
	opts    func(db string) (*redis.Options, error)
}

// pipelineBatch bounds the commands sent in one pipeline.
const pipelineBatch = 512

func newRedisDB(cfg *sonicDBConfig, transport string, timeout time.Duration, log *slog.Logger) *redisDB {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{log}) })
	r := &redisDB{cfg: cfg, clients: map[string]*redis.Client{}}
	r.opts = func(db string) (*redis.Options, error) {
		d, ok := cfg.Databases[db]
		if !ok {
			return nil, fmt.Errorf("database %s is not in the SONiC database config", db)
		}
		inst := cfg.Instances[d.Instance]
		o := &redis.Options{
			DB: d.ID, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			MaxRetries: -1, DialerRetries: 1, PoolSize: 2, Protocol: 2, DisableIdentity: true,
			ContextTimeoutEnabled:    true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		}
		useUnix := transport == "unix"
		if transport == "auto" && inst.UnixSocketPath != "" {
			if _, err := os.Stat(inst.UnixSocketPath); err == nil {
				useUnix = true
			}
		}
		switch {
		case useUnix && inst.UnixSocketPath == "":
			return nil, fmt.Errorf("instance %s has no unix_socket_path", d.Instance)
		case useUnix:
			o.Network, o.Addr = "unix", inst.UnixSocketPath
		default:
			host := inst.Hostname
			if host == "" {
				host = "127.0.0.1"
			}
			if inst.Port <= 0 {
				return nil, fmt.Errorf("instance %s has no TCP port", d.Instance)
			}
			o.Network, o.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(inst.Port))
		}
		return o, nil
	}
	return r
}

func (r *redisDB) client(db string) (*redis.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients[db]; c != nil {
		return c, nil
	}
	o, err := r.opts(db)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(o)
	r.clients[db] = c
	return c, nil
}

func (r *redisDB) hgetall(ctx context.Context, db string, keys []string) ([]map[string]string, error) {
	c, err := r.client(db)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), pipelineBatch)
		p := c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, n)
		for i, k := range keys[:n] {
			cmds[i] = p.HGetAll(ctx, k)
		}
		p.Exec(ctx) // errors are looked at per command
		for _, cmd := range cmds {
			v, err := cmd.Result()
			switch {
			case wrongType(err):
				v = nil // not a hash (a SONiC key set, say): nothing to read
			case err != nil:
				return nil, &dbError{fmt.Errorf("redis %s: %w", db, err)}
			}
			out = append(out, v)
		}
		keys = keys[n:]
	}
	return out, nil
}

// wrongType reports a redis WRONGTYPE error: the key holds another type.
func wrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

func (r *redisDB) hget(ctx context.Context, db, field string, keys []string) ([]string, []bool, error) {
	c, err := r.client(db)
	if err != nil {
		return nil, nil, err
	}
	vals := make([]string, 0, len(keys))
	oks := make([]bool, 0, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), pipelineBatch)
		p := c.Pipeline()
		cmds := make([]*redis.StringCmd, n)
		for i, k := range keys[:n] {
			cmds[i] = p.HGet(ctx, k, field)
		}
		p.Exec(ctx) // errors are looked at per command
		for _, cmd := range cmds {
			v, err := cmd.Result()
			switch {
			case errors.Is(err, redis.Nil), wrongType(err):
				vals, oks = append(vals, ""), append(oks, false)
			case err != nil:
				return nil, nil, &dbError{fmt.Errorf("redis %s: %w", db, err)}
			default:
				vals, oks = append(vals, v), append(oks, true)
			}
		}
		keys = keys[n:]
	}
	return vals, oks, nil
}

func (r *redisDB) scan(ctx context.Context, db, pattern string) ([]string, error) {
	c, err := r.client(db)
	if err != nil {
		return nil, err
	}
	var out []string
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return nil, &dbError{fmt.Errorf("redis %s: scan %s: %w", db, pattern, err)}
		}
		out = append(out, keys...)
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

func (r *redisDB) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for k, c := range r.clients {
		errs = append(errs, c.Close())
		delete(r.clients, k)
	}
	return errors.Join(errs...)
}
