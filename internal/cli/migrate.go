package cli

// ExitTargetRefused: vcr-migrate's target cannot take the container (unreachable or
// untrusted, a name clash, a missing profile or unmapped network, no capacity, no
// space). Nothing was changed; the service runs where it ran.
const ExitTargetRefused = 8

// MigrateExitCodesHelp is vcr-migrate's exit-code table for --help: recover's, plus 8.
const MigrateExitCodesHelp = `Exit codes:
  0  done (or -dry-run planned)
  1  could not run at all: state_dir or its locks unusable (read-only, not a folder,
     not permitted)
  2  usage or configuration error (unknown service or standby, target = where it runs)
  3  refused: the service's or a standby's Zabbix host is in maintenance, a
     recovery or migration of the service holds its lock, or (result "changed") a
     recovery changed the container or its name during the pre-copy: the copy is
     removed, the recovery's outcome stands
  4  container failure: before the DNS switch rolled back (the source serves again,
     DNS untouched); after it (stopping or deleting the source) the target serves
     and the message says what is left
  5  probe timeout on the target (rolled back likewise)
  6  DNS failure: the message says which copy serves (rolled back if the name
     still points at the source)
  7  the name moved meanwhile (another recoverer won the compare-and-set); rolled back
  8  the target refuses: unreachable or untrusted, name clash, missing profile,
     network missing and not mapped (standbys[].network), capacity, space;
     nothing was changed
`
