package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// passOptions configures the pass mode.
type passOptions struct {
	Synthetic     int           // generated guests added to the table
	SyntheticFile string        // if readable, holds the number of generated guests
	CacheTTL      time.Duration // how long a table is served before libvirt is read again
}

func runPass(ctx context.Context, log *slog.Logger, v virsh, o passOptions, in io.Reader, out io.Writer) error {
	src := sources{v}
	if o.Synthetic > 0 || o.SyntheticFile != "" {
		src = append(src, synthetic{N: o.Synthetic, File: o.SyntheticFile, Start: time.Now(), Now: time.Now})
	}
	tab := &cachedTable{Source: src, TTL: o.CacheTTL, Now: time.Now, Log: log}
	log.Info("serving libvirtGuestTable", "uri", v.URI, "synthetic", o.Synthetic, "cache_seconds", o.CacheTTL.Seconds())
	return servePassPersist(ctx, log, tab.Table, in, out)
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
func servePassPersist(ctx context.Context, log *slog.Logger, tab func(context.Context) *table, in io.Reader, out io.Writer) error {
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
			var c cell
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
			fmt.Fprintf(w, "%s\n%s\n%s\n", formatOID(c.OID), c.Type, c.Value)
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
