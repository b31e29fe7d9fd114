# `make` builds the five binaries into bin/; `make test` is the README's test command.
BINS := trapd sender recover migrate provision
GO ?= go

.PHONY: all test clean
all: $(addprefix bin/vcr-,$(BINS))

bin/vcr-%: FORCE
	$(GO) build -trimpath -o $@ ./$*

FORCE:

test:
	scripts/test

clean:
	rm -rf bin
