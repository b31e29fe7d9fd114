package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// passOptions configures the pass mode.
type passOptions struct {
	Synthetic     int           // generated guests added to the table
	SyntheticFile string        // if readable, holds the number of generated guests
	CacheTTL      time.Duration // how long a table is served before libvirt is read again
	// LostFile, once it exists at a refresh, makes the agent lose libvirt for good
	// (lostLibvirt): no rows, as libvirt-snmp after a libvirtd restart.
	LostFile string
}

func runPass(ctx context.Context, log *slog.Logger, v virsh, o passOptions, in io.Reader, out io.Writer) error {
	src := sources{v}
	if o.Synthetic > 0 || o.SyntheticFile != "" {
		src = append(src, synthetic{N: o.Synthetic, File: o.SyntheticFile, Start: time.Now(), Now: time.Now})
	}
	// The loss takes the whole table, as the real agent's list of domains fails.
	lost := &lostLibvirt{File: o.LostFile, src: src}
	cache := &guesttable.Cache{Load: loadLogged(log, lost), TTL: o.CacheTTL}
	log.Info("serving libvirtGuestTable", "uri", v.URI, "synthetic", o.Synthetic, "cache_seconds", o.CacheTTL.Seconds())
	return servePassPersist(ctx, log, func(ctx context.Context) *guesttable.Table {
		t, err := cache.Table(ctx)
		if err != nil {
			log.Error("read guests", "err", err)
		}
		return t
	}, in, out)
}

// loadLogged reads the guests of src and logs how long that took.
func loadLogged(log *slog.Logger, src source) func(context.Context) ([]guesttable.Guest, error) {
	return func(ctx context.Context) ([]guesttable.Guest, error) {
		start := time.Now()
		guests, err := src.Guests(ctx)
		log.Debug("table refreshed", "guests", len(guests), "duration_seconds", time.Since(start).Seconds())
		return guests, err
	}
}

// passType returns a cell's type and value in the pass_persist protocol (snmpd.conf(5)).
// A value is one line: a name's line breaks become spaces.
func passType(c guesttable.Cell) (typ, value string) {
	switch v := c.Value.(type) {
	case string:
		return "string", strings.NewReplacer("\n", " ", "\r", " ").Replace(v)
	case int:
		return "integer", strconv.Itoa(v)
	case uint32:
		return "gauge", strconv.FormatUint(uint64(v), 10)
	case uint64:
		return "counter64", strconv.FormatUint(v, 10)
	}
	panic(fmt.Sprintf("cell %s: no pass_persist type for %s %T", c.Name, c.Syntax, c.Value))
}

// servePassPersist speaks snmpd's pass_persist protocol (snmpd.conf(5)) on in and out
// until snmpd closes in or sends an empty line:
//
//	PING                          -> PONG
//	get / OID                     -> OID / TYPE / VALUE, or NONE
//	getnext / OID                 -> the next OID / TYPE / VALUE, or NONE
//	set / OID / TYPE VALUE        -> not-writable
//
// Every answer is flushed at once: snmpd waits for it.
func servePassPersist(ctx context.Context, log *slog.Logger, tab func(context.Context) *guesttable.Table, in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	w := bufio.NewWriter(out)
	readLine := func() (string, error) {
		line, err := r.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		cmd, err := readLine()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read command: %w", err)
		}
		switch strings.ToLower(strings.TrimSpace(cmd)) {
		case "":
			return nil
		case "ping":
			fmt.Fprint(w, "PONG\n")
		case "get", "getnext":
			arg, err := readLine()
			if err != nil {
				return fmt.Errorf("read %s oid: %w", cmd, err)
			}
			oid, err := libvirtmib.ParseOID(arg)
			if err != nil {
				log.Warn("bad oid", "command", cmd, "err", err)
				fmt.Fprint(w, "NONE\n")
				break
			}
			var c guesttable.Cell
			var ok bool
			if strings.EqualFold(cmd, "get") {
				c, ok = tab(ctx).Get(oid)
			} else {
				c, ok = tab(ctx).Next(oid)
			}
			if !ok {
				fmt.Fprint(w, "NONE\n")
				break
			}
			typ, val := passType(c)
			fmt.Fprintf(w, "%s\n%s\n%s\n", c.Name, typ, val)
		case "set":
			// The OID line and the "TYPE VALUE" line.
			for range 2 {
				if _, err := readLine(); err != nil {
					return fmt.Errorf("read set: %w", err)
				}
			}
			fmt.Fprint(w, "not-writable\n")
		default:
			log.Warn("unknown pass_persist command", "command", cmd)
			fmt.Fprint(w, "NONE\n")
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write answer: %w", err)
		}
	}
}
