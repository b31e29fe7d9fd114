// Package trapd is vcr-trapd's daemon: libvirt-snmp traps in (its own UDP listener,
// internal/listen, or snmptrapd's log, internal/follow), VM state items out to Zabbix
// in batches (with a disk spool, internal/spool, while the trapper is unreachable),
// guest discovery when a new VM appears, the fast path to recovery, and its own health
// counters. See trapd/README.md for the operator's view.
package trapd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/secret"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/trapd/follow"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/listen"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Modes of trap intake.
const (
	ModeListen = "listen"
	ModeFollow = "follow"
)

// Options configure a Server; Defaults has the defaults (vcr-trapd binds them to flags).
type Options struct {
	Inventory *config.Inventory
	Log       *slog.Logger

	// Mode is ModeListen (own UDP listener on snmp.trap_listen) or ModeFollow
	// (snmptrapd's log, snmp.snmptrapd_log).
	Mode string
	// TrapdHost is the Zabbix host of trapd's own counters (and of forwarded traps
	// from unknown sources). Empty: the inventory's trapd.zabbix_host.
	TrapdHost string
	// StatsInterval is how often the counters go to Zabbix (0: never).
	StatsInterval time.Duration
	// Version is the build (cli.Build's line) sent as vcr.trapd.version with the
	// counters, so that Zabbix shows which build runs where; empty: not sent.
	Version string
	// ForwardKey, when set, is the item that receives traps that are not
	// libvirtGuestNotif as text (on the sending hypervisor's host, else TrapdHost).
	ForwardKey string
	// SpoolDir holds the spool (default state_dir/trapd/spool); SpoolMax bounds it
	// (0: the inventory's trapd.spool_max).
	SpoolDir string
	SpoolMax int64
	// Batch is the most values per trapper request.
	Batch int
	// RejectRetry is how long values the server refuses are retried (LLD creates a
	// new guest's items some time after its discovery value); 0: the inventory's
	// trapd.reject_retry.
	RejectRetry time.Duration
	// FastPathMaxAge: older traps do not start the fast path.
	FastPathMaxAge time.Duration
	// DrainTimeout bounds sending what is queued at shutdown; the rest is spooled.
	DrainTimeout time.Duration

	// Listen mode.
	RcvBuf    int
	Queue     int
	Workers   int
	MaxPacket int

	// Follow mode: LogPath overrides snmp.snmptrapd_log; FromStart reads an existing
	// log from its start on the very first run; Location is snmptrapd's time zone.
	LogPath   string
	FromStart bool
	Location  *time.Location
}

// Defaults returns Options with the defaults of vcr-trapd's flags. The fields that
// the inventory's trapd section sets (TrapdHost, SpoolMax, RejectRetry) stay zero: New
// takes them from the inventory, so a flag only overrides.
func Defaults(inv *config.Inventory, log *slog.Logger) Options {
	return Options{
		Inventory: inv, Log: log,
		Mode:           ModeListen,
		StatsInterval:  time.Minute,
		Batch:          1000,
		FastPathMaxAge: 30 * time.Second,
		DrainTimeout:   10 * time.Second,
		RcvBuf:         64 << 20,
		Queue:          65536,
		MaxPacket:      8192,
	}
}

// Server is the daemon.
type Server struct {
	o        Options
	counters *health.Counters
	limiter  *ratelog.Limiter
	sender   *zabbix.Sender
	spool    *spool.Spool
	pipe     *pipeline
	deliver  *deliverer
	fast     *fastPath
	decoder  *trap.Decoder

	listener *listen.Listener
	follower *follow.Follower
	// resume is the follow position that the last run's open ledger record gives,
	// resumeN that record's number (see inflight.go).
	resume  json.RawMessage
	resumeN uint64

	closeOnce sync.Once
}

// New checks the options and prepares everything that needs no socket: secrets, SNMPv3
// keys, the spool, the known guests, the hypervisors' addresses. Its errors carry their
// exit code (cli.Error): cli.ExitUsage for options, inventory and secret files,
// cli.ExitRuntime for what is wrong on the machine (the spool or state_dir unusable, a
// hypervisor name that does not resolve).
func New(ctx context.Context, o Options) (*Server, error) {
	s, err := newServer(ctx, o)
	var marked *cli.Error
	if err != nil && !errors.As(err, &marked) {
		// newServer marks what the machine is to blame for where it happens; the
		// rest are checks of the options, the inventory and its secret files.
		err = cli.Fail(cli.ExitUsage, err)
	}
	return s, err
}

func newServer(ctx context.Context, o Options) (*Server, error) {
	inv := o.Inventory
	if inv == nil || o.Log == nil {
		return nil, errors.New("trapd: Inventory and Log are required")
	}
	if o.Mode != ModeListen && o.Mode != ModeFollow {
		return nil, fmt.Errorf("-mode: want %s or %s, got %q", ModeListen, ModeFollow, o.Mode)
	}
	if inv.Zabbix.Server.IsZero() {
		return nil, errors.New("zabbix.server: required by trapd (the trapper address)")
	}
	if o.TrapdHost == "" {
		o.TrapdHost = inv.Trapd.ZabbixHost
	}
	if o.SpoolMax <= 0 {
		o.SpoolMax = inv.Trapd.SpoolMax
	}
	if o.RejectRetry <= 0 {
		o.RejectRetry = inv.Trapd.RejectRetry
	}
	if o.SpoolDir == "" {
		o.SpoolDir = filepath.Join(inv.StateDir, "trapd", "spool")
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	s := &Server{o: o, counters: &health.Counters{}, limiter: ratelog.New(o.Log, time.Minute)}
	var err error
	if o.Mode == ModeListen {
		if len(inv.SNMP.TrapListen) == 0 {
			return nil, errors.New("snmp.trap_listen: required in listen mode")
		}
		if s.decoder, err = newDecoder(inv, o.Log); err != nil {
			return nil, err
		}
	} else if o.LogPath == "" {
		if inv.SNMP.SnmptrapdLog == "" {
			return nil, errors.New("snmp.snmptrapd_log: required in follow mode (or -log-file)")
		}
		s.o.LogPath = inv.SNMP.SnmptrapdLog
	}
	rt, err := newRouter(ctx, inv)
	if err != nil {
		return nil, err
	}
	g, err := loadGuests(filepath.Join(inv.StateDir, "trapd", "guests.json"), inv)
	if err != nil {
		return nil, cli.Fail(cli.ExitRuntime, err)
	}
	if s.spool, err = spool.Open(o.SpoolDir, spool.Options{MaxBytes: o.SpoolMax}); err != nil {
		return nil, cli.Fail(cli.ExitRuntime, err)
	}
	if n := s.spool.Values(); n > 0 {
		o.Log.Info("spool holds values from before the restart: replaying them first", "values", n)
	}
	s.sender = &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout, BatchSize: o.Batch, Retries: 1, Backoff: 100 * time.Millisecond}
	s.fast = newFastPath(inv, o.Log, s.counters)
	for _, svc := range inv.Services {
		if svc.FastPath && !s.fast.enabled() {
			o.Log.Warn("services ask for the fast path but zabbix.api_url is not set: fast path off", "service", svc.Name)
			break
		}
	}
	in := make(chan item, 65536)
	s.pipe = &pipeline{router: rt, guests: g, fast: s.fast, counters: s.counters, log: o.Log, limiter: s.limiter,
		forwardKey: o.ForwardKey, trapdHost: o.TrapdHost, fastMaxAge: o.FastPathMaxAge, now: time.Now, in: in}
	s.deliver = &deliverer{sender: s.sender, spool: s.spool, counters: s.counters, log: o.Log, limiter: s.limiter,
		batch: o.Batch, rejectRetry: o.RejectRetry, retryEvery: min(5*time.Second, max(o.RejectRetry/10, 100*time.Millisecond)),
		maxHeld: 100000, in: in, now: time.Now, syncLag: defaultSyncLag}
	if s.fast.enabled() {
		s.deliver.stored = s.fast.stored
	}
	if err := s.openLedger(ctx); err != nil {
		return nil, cli.Fail(cli.ExitRuntime, err)
	}
	return s, nil
}

// openLedger opens the deliverer's ledger and completes the batch the last run left
// in flight, before anything new is sent.
func (s *Server) openLedger(ctx context.Context) error {
	hl, held, err := spool.OpenLedger(filepath.Join(s.o.Inventory.StateDir, "trapd", "held.json"))
	if err != nil {
		return err
	}
	s.deliver.heldStore = hl
	s.deliver.loadHeld(held)
	l, flight, err := spool.OpenLedger(filepath.Join(s.o.Inventory.StateDir, "trapd", "inflight.json"))
	if err != nil {
		return err
	}
	s.deliver.ledger = l
	var settled uint64
	if s.o.Mode == ModeFollow {
		if settled, err = follow.Settled(s.followState()); err != nil {
			return err
		}
	}
	s.resume = s.deliver.recoverFlight(ctx, flight, settled)
	if s.resume != nil {
		s.resumeN = flight.N
	}
	return nil
}

func (s *Server) followState() string {
	return filepath.Join(s.o.Inventory.StateDir, "trapd", "follow.json")
}

// newDecoder builds the listener's decoder from the inventory's communities and users.
func newDecoder(inv *config.Inventory, log *slog.Logger) (*trap.Decoder, error) {
	var o trap.DecoderOptions
	if inv.SNMP.CommunitiesFile != "" {
		cs, err := secret.ReadLines(inv.SNMP.CommunitiesFile)
		if err != nil {
			return nil, fmt.Errorf("snmp.communities_file: %w", err)
		}
		for _, c := range cs {
			o.Communities = append(o.Communities, []byte(c.Reveal()))
		}
	}
	if len(o.Communities) == 0 {
		log.Warn("no snmp.communities_file: SNMPv1/v2c traps are refused")
	}
	for i := range inv.SNMP.Users {
		u, _, err := hypervisor.USM(&inv.SNMP.Users[i])
		if err != nil {
			return nil, err
		}
		o.Users = append(o.Users, u)
	}
	if len(o.Users) > 0 {
		// Informs from v3 users are sent to trapd's own engine.
		e, err := trap.DefaultEngine(filepath.Join(inv.StateDir, "trapd", "engine-boots"), time.Now())
		if err != nil {
			return nil, cli.Fail(cli.ExitRuntime, err)
		}
		o.Engine = e
		log.Info("SNMPv3 engine for informs", "engine_id", fmt.Sprintf("%x", e.ID), "boots", e.Boots)
	}
	d, err := trap.NewDecoder(o)
	if err != nil {
		return nil, fmt.Errorf("snmp.users: %w", err)
	}
	return d, nil
}

// Listen opens the intake: the UDP sockets, or the log and its saved position.
func (s *Server) Listen() error {
	o := s.o
	if o.Mode == ModeListen {
		l, err := listen.Listen(listen.Options{Addrs: o.Inventory.SNMP.TrapListen, RcvBuf: o.RcvBuf, Queue: o.Queue,
			Workers: o.Workers, MaxPacket: o.MaxPacket, Decoder: s.decoder, Counters: s.counters, Log: o.Log,
			Limiter: s.limiter, Handle: s.pipe.handle})
		if err != nil {
			return err
		}
		s.listener = l
		return nil
	}
	f, err := follow.Open(follow.Options{Path: o.LogPath, StateFile: s.followState(), Resume: s.resume,
		FromStart: o.FromStart, Location: o.Location, Counters: s.counters, Log: o.Log, Limiter: s.limiter, Handle: s.pipe.handleLogged})
	if err != nil {
		return err
	}
	if s.resume != nil {
		f.Settle(s.resumeN)
	}
	s.follower = f
	s.deliver.intake = f
	o.Log.Info("following snmptrapd's log", "path", o.LogPath)
	return nil
}

// LocalAddr returns the first address the listener is bound to (listen mode), e.g. to
// learn the port of "127.0.0.1:0" in tests.
func (s *Server) LocalAddr() net.Addr {
	if s.listener == nil {
		return nil
	}
	return s.listener.Addrs()[0]
}

// Counters returns the live counters.
func (s *Server) Counters() *health.Counters { return s.counters }

// SpooledValues returns the number of values waiting in the spool.
func (s *Server) SpooledValues() int { return s.spool.Values() }

// Serve runs until ctx ends. Then it stops the intake, sends what is queued (for at
// most DrainTimeout; the rest goes to the spool), saves the follow position, sends and
// logs the counters, and returns nil.
func (s *Server) Serve(ctx context.Context) error {
	if s.listener == nil && s.follower == nil {
		return errors.New("trapd: Serve before Listen")
	}
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		s.deliver.run(hard)
	}()
	if s.fast.enabled() {
		go s.fast.warm(ctx)
	}
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		s.stats(ctx)
	}()

	var err error
	if s.listener != nil {
		err = s.listener.Serve(ctx)
	} else {
		err = s.follower.Serve(ctx)
	}
	// The intake has stopped: nothing more enters the queue.
	close(s.pipe.in)
	timer := time.AfterFunc(s.o.DrainTimeout, cancelHard)
	<-delivered
	timer.Stop()
	if s.follower != nil {
		if cerr := s.follower.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("save follow position: %w", cerr)
		}
	}
	<-statsDone
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	s.fast.wait(wctx)
	s.sendStats(wctx)
	cancel()
	args := []any{"spooled_values_left", s.spool.Values()}
	for _, c := range s.counters.All() {
		args = append(args, c.Name, c.Value)
	}
	s.o.Log.Info("trapd stopped", args...)
	return err
}

// stats sends the health counters every StatsInterval until ctx ends.
func (s *Server) stats(ctx context.Context) {
	if s.o.StatsInterval <= 0 || s.o.TrapdHost == "" {
		return
	}
	t := time.NewTicker(s.o.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sendStats(ctx)
		}
	}
}

// sendStats sends the eight template counters as zabbix.KeyTrapd items, and the
// build as zabbix.KeyTrapdVersion. They are
// counters since start: a lost sample is made up by the next, so they are not spooled.
func (s *Server) sendStats(ctx context.Context) {
	if s.o.TrapdHost == "" {
		return
	}
	now := time.Now()
	var vs []zabbix.Value
	for _, c := range s.counters.Health() {
		vs = append(vs, zabbix.Value{Host: s.o.TrapdHost, Key: zabbix.KeyTrapd(c.Name), Value: fmt.Sprint(c.Value), Clock: now})
	}
	if s.o.Version != "" {
		vs = append(vs, zabbix.Value{Host: s.o.TrapdHost, Key: zabbix.KeyTrapdVersion, Value: s.o.Version, Clock: now})
	}
	if _, err := s.sender.Send(ctx, vs); err != nil {
		s.limiter.Log(slog.LevelWarn, "stats", "send health counters", "host", s.o.TrapdHost, "err", err)
	}
}

// Close releases the sockets, the log and the spool. After Serve it only closes files.
func (s *Server) Close() error {
	var errs []string
	s.closeOnce.Do(func() {
		if s.listener != nil {
			if err := s.listener.Close(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if s.follower != nil {
			if err := s.follower.Close(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if err := s.spool.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	})
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
