package container

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPick(t *testing.T) {
	unreachable := errors.New("unreachable")
	tests := []struct {
		name    string
		places  []Place
		want    string
		wantErr error
	}{
		{"runs at home", []Place{{Standby: "standby", Exists: true, Running: true}, {Standby: "big"}}, "standby", nil},
		{"moved: runs on big, home lacks it", []Place{{Standby: "standby"}, {Standby: "big", Exists: true, Running: true}}, "big", nil},
		{"moved with -keep-source: stopped at home, runs on big", []Place{{Standby: "standby", Exists: true}, {Standby: "big", Exists: true, Running: true}}, "big", nil},
		{"stopped at home and elsewhere: home", []Place{{Standby: "standby", Exists: true}, {Standby: "big", Exists: true}}, "standby", nil},
		{"stopped only elsewhere (a moved cold standby)", []Place{{Standby: "standby"}, {Standby: "big", Exists: true}}, "big", nil},
		{"nowhere: home, to be created", []Place{{Standby: "standby"}, {Standby: "big"}}, "standby", nil},
		{"other server down: home", []Place{{Standby: "standby", Exists: true}, {Standby: "big", Err: unreachable}}, "standby", nil},
		{"runs twice", []Place{{Standby: "standby", Exists: true, Running: true}, {Standby: "big", Exists: true, Running: true}}, "", ErrRunsTwice},
		{"home down, nothing found", []Place{{Standby: "standby", Err: unreachable}, {Standby: "big"}}, "", unreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pick(tt.places, "standby")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got.Standby); diff != "" {
				t.Errorf("picked (-want +got):\n%s", diff)
			}
		})
	}
}
