package container

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/canonical/lxd/shared/api"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// Place is one standby server's answer to "do you hold this container?".
type Place struct {
	Standby string  // standbys[].name
	Server  *Server // nil when it could not be reached
	Exists  bool
	Running bool  // running or frozen
	Err     error // why it could not be asked
}

// Locate asks every standby server of the inventory, in parallel, whether it holds
// container name. The LXD servers are the only record of where a container lives (a
// migration moves it; no file says so), so every binary asks them. The places come in
// inventory order.
func Locate(ctx context.Context, inv *config.Inventory, name string) []Place {
	return locate(ctx, inv, name, nil)
}

// locate is Locate with some answers known already (by standby name).
func locate(ctx context.Context, inv *config.Inventory, name string, known map[string]Place) []Place {
	places := make([]Place, len(inv.Standbys))
	var wg sync.WaitGroup
	for i, sb := range inv.Standbys {
		if p, ok := known[sb.Name]; ok {
			places[i] = p
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			places[i] = ask(ctx, sb, name)
		}()
	}
	wg.Wait()
	return places
}

func ask(ctx context.Context, sb config.Standby, name string) Place {
	p := Place{Standby: sb.Name}
	srv, err := Connect(ctx, sb)
	if err != nil {
		p.Err = err
		return p
	}
	p.Server = srv
	running, exists, err := srv.status(name)
	p.Running, p.Exists, p.Err = running, exists, err
	return p
}

// Find returns the server that holds the service's container now, asking home (the
// service's standbys entry) first: when it runs there, no other server is asked and a
// recovery pays nothing for the lookup. Otherwise every server is asked, and the choice
// is the one where it runs, else home if it exists there (stopped), else another that
// holds it stopped, else home (a cold standby not created yet).
func Find(ctx context.Context, inv *config.Inventory, name, home string) (Place, error) {
	sb, ok := inv.Standby(home)
	if !ok {
		return Place{}, fmt.Errorf("find container %s: no standby %q", name, home)
	}
	first := ask(ctx, *sb, name)
	if first.Err == nil && first.Running {
		return first, nil
	}
	return Pick(locate(ctx, inv, name, map[string]Place{home: first}), home)
}

// ErrRunsTwice: the container runs on more than one server (a broken move, or a hand
// copy): nothing may guess which one serves.
var ErrRunsTwice = errors.New("container runs on more than one server")

// Pick chooses from Locate's answers as Find describes.
func Pick(places []Place, home string) (Place, error) {
	var running []Place
	var homePlace, stopped *Place
	var errs []error
	for i := range places {
		p := &places[i]
		if p.Err != nil {
			errs = append(errs, p.Err)
			continue
		}
		switch {
		case p.Running:
			running = append(running, *p)
		case p.Exists && p.Standby != home && stopped == nil:
			stopped = p
		}
		if p.Standby == home {
			homePlace = p
		}
	}
	switch {
	case len(running) == 1:
		return running[0], nil
	case len(running) > 1:
		return Place{}, fmt.Errorf("%w: on %s and %s", ErrRunsTwice, running[0].Standby, running[1].Standby)
	case homePlace != nil && homePlace.Exists:
		return *homePlace, nil
	case stopped != nil:
		return *stopped, nil
	case homePlace != nil:
		return *homePlace, nil
	}
	return Place{}, fmt.Errorf("find container: standby %s unreachable: %w", home, errors.Join(errs...))
}

// status asks whether the container exists and runs (or is frozen).
func (s *Server) status(name string) (running, exists bool, err error) {
	inst, _, err := s.c.GetInstance(name)
	if err != nil {
		if api.StatusErrorCheck(err, 404) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("get container %s on %s: %w", name, s.Name, err)
	}
	return inst.StatusCode == api.Running || inst.StatusCode == api.Frozen, true, nil
}
