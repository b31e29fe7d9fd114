package zabbix

import "testing"

func TestGuestDiscovery(t *testing.T) {
	got := GuestDiscovery([]Guest{
		{UUID: "b", Name: "vm-b"},
		{UUID: "a", Name: "web1", Service: "web1", Standby: "standby"},
	})
	want := `[{"{#SERVICE}":"web1","{#STANDBY}":"standby","{#VM.NAME}":"web1","{#VM.UUID}":"a"},` +
		`{"{#SERVICE}":"","{#STANDBY}":"","{#VM.NAME}":"vm-b","{#VM.UUID}":"b"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := GuestDiscovery(nil); got != "[]" {
		t.Fatalf("empty: %s", got)
	}
	if got := ServiceDiscovery([]string{"web2", "web1"}); got != `[{"{#SERVICE}":"web1"},{"{#SERVICE}":"web2"}]` {
		t.Fatalf("services: %s", got)
	}
}
