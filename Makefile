# `make` builds the four binaries into bin/; `make test` is the README's test command.
BINS := trapd sender recover migrate
GO ?= go

.PHONY: all test lab-up lab-down clean
all: $(addprefix bin/vcr-,$(BINS))

bin/vcr-%: FORCE
	$(GO) build -trimpath -o $@ ./$*

FORCE:

test:
	scripts/test

clean:
	rm -rf bin
