# `make` builds the four binaries and vcr-provision into bin/; `make test` is the README's test command.
BINS := trapd sender recover migrate
GO ?= go

.PHONY: all test clean
all: $(addprefix bin/vcr-,$(BINS)) bin/vcr-provision

bin/vcr-%: FORCE
	$(GO) build -trimpath -o $@ ./$*

# Provisioning is a tool of the Zabbix side, kept under scripts/.
bin/vcr-provision: FORCE
	$(GO) build -trimpath -o $@ ./scripts/provision

FORCE:

test:
	scripts/test

clean:
	rm -rf bin
