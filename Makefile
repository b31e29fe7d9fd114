# `make` builds the five binaries into bin/; `make test` is the README's test command;
# `make install [PREFIX=/usr/local] [DESTDIR=...]` installs them with the Zabbix
# wrappers, the systemd units, the cron, timer and logrotate examples and the Zabbix
# templates, the README and the on-call runbook (README.md, "Install").
BINS := trapd sender recover migrate provision
GO ?= go

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
# systemd reads units from /usr/local/lib/systemd/system as well as /etc and /lib.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SHAREDIR ?= $(PREFIX)/share/vcrcovery

# Every binary answers --version from its build information (internal/cli, Build).
# The toolchain stamps the VCS revision itself (-buildvcs=auto overrides a GOFLAGS
# that turns it off), except in a git worktree, where it sees no repository: there the
# same facts come from git through the linker. Outside git both are empty.
CLI := github.com/vcrcovery/vcrcovery/internal/cli
GIT_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
GIT_VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)
GIT_TIME := $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null)
GIT_MODIFIED := $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true || echo false)
LDFLAGS := -X $(CLI).linkVersion=$(GIT_VERSION) -X $(CLI).linkRevision=$(GIT_REVISION) \
	-X $(CLI).linkTime=$(GIT_TIME) -X $(CLI).linkModified=$(GIT_MODIFIED)

.PHONY: all test clean install
all: $(addprefix bin/vcr-,$(BINS))

bin/vcr-%: FORCE
	$(GO) build -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)' -o $@ ./$*

FORCE:

test:
	scripts/test

clean:
	rm -rf bin

# The units and cron lines name /usr/local/bin and /usr/local/share/vcrcovery:
# rewritten to BINDIR and SHAREDIR.
# The wrappers keep the names the Zabbix scripts and the cron examples call them by
# (vcr-provision -recover-command/-migrate-command defaults, scripts/cron/*.cron).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SHAREDIR)/cron $(DESTDIR)$(SHAREDIR)/logrotate $(DESTDIR)$(SHAREDIR)/zabbix-templates
	install -m 755 $(addprefix bin/vcr-,$(BINS)) $(DESTDIR)$(BINDIR)/
	install -m 755 scripts/zabbix-recover $(DESTDIR)$(BINDIR)/vcr-zabbix-recover
	install -m 755 scripts/zabbix-migrate $(DESTDIR)$(BINDIR)/vcr-zabbix-migrate
	install -m 755 scripts/cron/vcr-sender-minute $(DESTDIR)$(BINDIR)/vcr-sender-minute
	for f in scripts/systemd/*.service scripts/systemd/*.timer scripts/cron/*.cron; do \
		case $$f in *.cron) d=$(DESTDIR)$(SHAREDIR)/cron;; *) d=$(DESTDIR)$(UNITDIR);; esac; \
		sed -e 's|/usr/local/bin|$(BINDIR)|g' -e 's|/usr/local/share/vcrcovery|$(SHAREDIR)|g' $$f >$$d/$${f##*/} && chmod 644 $$d/$${f##*/} || exit 1; \
	done
	install -m 644 scripts/logrotate/* $(DESTDIR)$(SHAREDIR)/logrotate/
	install -m 644 zabbix-templates/*.yaml zabbix-templates/README.md $(DESTDIR)$(SHAREDIR)/zabbix-templates/
	install -m 644 README.md docs/runbook.md $(DESTDIR)$(SHAREDIR)/
