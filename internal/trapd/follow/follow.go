// Package follow is trapd's follow mode: it reads the log file that snmptrapd writes
// (the deployment of the seed paper, where snmptrapd receives the traps), as the file
// grows, and hands every record on in order.
//
// What it guarantees, with the caller acknowledging each record once it is durable:
//   - restarts resume from the saved position: records acknowledged before are not
//     handed on again, and none written meanwhile is skipped. The position is saved in a
//     state file (fsync'd, atomic) after acknowledgements and when the follower closes;
//     a caller that records each batch before it leaves (spool.Ledger), with the
//     position after it (After), resumes after a crash from the position the ledger
//     holds (Options.Resume), so that no record is handed on twice; otherwise a crash
//     between an acknowledgement and the next save (tens of milliseconds) can hand a
//     record on twice;
//   - rotation by rename (logrotate's default): the old file is read to its end, also
//     after a restart (it is found again by its device and inode), then the new one
//     from its start. The switch waits until snmptrapd has written to the new file, so
//     the old one can no longer grow;
//   - truncation (logrotate copytruncate): reading starts over at 0;
//   - the saved position also holds a fingerprint of the file's first bytes, so a file
//     replaced by another with the same inode, or truncated and regrown while trapd was
//     down, is read from the start rather than from a stranger's offset;
//   - records get strictly increasing timestamps in log order, although snmptrapd logs
//     whole seconds (see clock).
//
// fsnotify wakes the reader on each write (one event per trap, shared/LAB-NOTES.md);
// a one-second poll covers file systems without inotify.
package follow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
)

// Options configure a Follower.
type Options struct {
	// Path is snmptrapd's log file (its -Lf argument).
	Path string
	// StateFile holds the saved position.
	StateFile string
	// FromStart reads an existing log from its start when there is no saved position.
	// By default the first start begins at the end: months of old traps are history,
	// not news.
	FromStart bool
	// Location is the time zone of the default format's timestamps (snmptrapd's).
	Location *time.Location
	// Poll is the fallback re-check interval. Default 1s.
	Poll     time.Duration
	Counters *health.Counters
	Log      *slog.Logger
	Limiter  *ratelog.Limiter
	// Handle receives every notification in log order, from one goroutine, with its
	// sequence number (for After). done must be called once the values derived from it
	// are durable; the saved position only moves past a record when it and every
	// record before it are done.
	Handle func(t trap.Trap, seq uint64, done func())
	// Resume, when set, is a position that After returned, to start from instead of
	// the saved one: the caller's ledger knows that the records before it were
	// delivered although the follower had not saved that yet.
	Resume json.RawMessage
}

// fileID identifies a file across renames.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// state is the saved position: the end of the last acknowledged record.
type state struct {
	File   fileID `json:"file"`
	Offset int64  `json:"offset"`
	// Print is the SHA-256 of the file's first PrintLen bytes.
	Print    string `json:"fingerprint"`
	PrintLen int    `json:"fingerprint_bytes"`
	// Settled is the number of the caller's last ledger record delivered (Settle).
	Settled uint64 `json:"settled,omitempty"`
}

const printBytes = 256

// Follower follows one log file.
type Follower struct {
	o Options

	cur   *os.File
	curID fileID
	off   int64  // read offset in cur
	buf   []byte // read but not yet parsed into complete records; starts at off-len(buf)

	lastClock time.Time // the last record's stamp, see clock
	head      []byte    // the first bytes of cur, to notice a truncation

	acks    acks
	saveReq chan struct{}
	saveMu  sync.Mutex // one save at a time
	saved   state
	settled uint64 // see state.Settled
}

// Open loads the saved position and opens the log (the file may not exist yet).
func Open(o Options) (*Follower, error) {
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Handle == nil || o.Counters == nil || o.Log == nil || o.Path == "" || o.StateFile == "" {
		return nil, errors.New("follow: Path, StateFile, Handle, Counters and Log are required")
	}
	if o.Limiter == nil {
		o.Limiter = ratelog.New(o.Log, time.Minute)
	}
	f := &Follower{o: o, saveReq: make(chan struct{}, 1)}
	if err := os.MkdirAll(filepath.Dir(o.StateFile), 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	st, haveState, err := loadState(o.StateFile)
	if err != nil {
		return nil, err
	}
	f.settled = st.Settled
	if o.Resume != nil {
		if err := json.Unmarshal(o.Resume, &st); err != nil {
			return nil, fmt.Errorf("follow: position to resume from: %w", err)
		}
		haveState = true
	}
	if err := f.start(st, haveState); err != nil {
		return nil, err
	}
	// Save the starting position at once: a restart before the first trap must not
	// start over at a later end and skip what came meanwhile. Without a log yet, the
	// saved state says "read the log from its start when it appears".
	if f.cur != nil {
		f.acks.setStart(f.curID, f.off)
		if err := f.save(); err != nil {
			return nil, err
		}
	} else if err := atomicfile.Write(o.StateFile, []byte(`{"file":{"dev":0,"ino":0},"offset":0}`), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// Settled returns the number of the last ledger record that the follower with state
// file stateFile saved as delivered (Settle), 0 when there is none.
func Settled(stateFile string) (uint64, error) {
	st, _, err := loadState(stateFile)
	return st.Settled, err
}

func loadState(name string) (state, bool, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("read follow state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, false, fmt.Errorf("follow state %s: %w", name, err)
	}
	return st, true, nil
}

// start picks the file and offset to begin with.
func (f *Follower) start(st state, haveState bool) error {
	log := f.o.Log.With("path", f.o.Path)
	cur, id, err := openID(f.o.Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open %s: %w", f.o.Path, err)
	}
	if haveState && st.File == (fileID{}) {
		// Saved before the log existed: whatever log there is now is new.
		haveState, f.o.FromStart = false, true
	}
	if !haveState {
		if cur == nil {
			log.Info("log does not exist yet; following it from its start when it appears")
			return nil
		}
		f.cur, f.curID = cur, id
		if !f.o.FromStart {
			fi, err := cur.Stat()
			if err != nil {
				return fmt.Errorf("stat %s: %w", f.o.Path, err)
			}
			f.off = fi.Size()
		}
		log.Info("following log, no saved position", "offset", f.off)
		return nil
	}
	if cur != nil && id == st.File {
		if ok := matches(cur, st); ok {
			f.cur, f.curID, f.off = cur, id, st.Offset
			log.Info("following log from the saved position", "offset", st.Offset)
			return nil
		}
		log.Warn("log was truncated or replaced while trapd was down; reading it from its start", "saved_offset", st.Offset)
		f.cur, f.curID = cur, id
		return nil
	}
	// The saved file was rotated away: finish it first if it is still there.
	if old, ok := findByID(filepath.Dir(f.o.Path), st.File); ok {
		if of, oid, err := openID(old); err == nil && oid == st.File && matches(of, st) {
			if cur != nil {
				cur.Close()
			}
			f.cur, f.curID, f.off = of, oid, st.Offset
			log.Info("finishing the rotated log from the saved position", "rotated", old, "offset", st.Offset)
			return nil
		}
	}
	if cur == nil {
		log.Warn("saved log file is gone and the log does not exist; following it from its start when it appears")
		return nil
	}
	log.Warn("saved log file is gone (rotated and removed while trapd was down): traps logged there after the saved position are lost; reading the log from its start", "saved_offset", st.Offset)
	f.cur, f.curID = cur, id
	return nil
}

// matches checks that the file still holds what the state's position refers to.
func matches(f *os.File, st state) bool {
	fi, err := f.Stat()
	if err != nil || fi.Size() < st.Offset {
		return false
	}
	p, n, err := fingerprint(f, st.Offset)
	return err == nil && n == st.PrintLen && p == st.Print
}

// fingerprint hashes the first min(upTo, 256) bytes of f.
func fingerprint(f *os.File, upTo int64) (string, int, error) {
	n := min(upTo, printBytes)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), int(n), nil
}

func openID(name string) (*os.File, fileID, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fileID{}, err
	}
	id, err := idOf(f)
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	return f, id, nil
}

func idOf(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	return statID(fi)
}

func statID(fi os.FileInfo) (fileID, error) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no device and inode numbers on this system")
	}
	return fileID{Dev: uint64(sys.Dev), Ino: sys.Ino}, nil
}

// findByID looks in dir for the file with the given identity (the rotated log).
func findByID(dir string, id fileID) (string, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if got, err := statID(fi); err == nil && got == id {
			return filepath.Join(dir, e.Name()), true
		}
	}
	return "", false
}

// Serve follows the log until ctx ends, then returns nil. Records handed on may still
// be acknowledged after Serve returns; Close saves the final position.
func (f *Follower) Serve(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("follow %s: %w", f.o.Path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(f.o.Path)); err != nil {
		return fmt.Errorf("watch %s: %w", filepath.Dir(f.o.Path), err)
	}
	saverDone := make(chan struct{})
	saverCtx, stopSaver := context.WithCancel(context.Background())
	go func() {
		defer close(saverDone)
		f.saver(saverCtx)
	}()
	defer func() {
		stopSaver()
		<-saverDone
	}()
	tick := time.NewTicker(f.o.Poll)
	defer tick.Stop()
	for {
		f.pump()
		select {
		case <-ctx.Done():
			return nil
		case <-w.Events:
			// Any change in the folder may concern the log or its rotated self: read.
		case err := <-w.Errors:
			f.o.Limiter.Log(slog.LevelWarn, "fsnotify", "file watch error; polling continues", "err", err)
		case <-tick.C:
		}
	}
}

// pump reads what the current file has, hands complete records on, and handles
// rotation and truncation.
func (f *Follower) pump() {
	for i := 0; i < 4; i++ { // at most a few file switches per wake-up
		if f.cur == nil {
			cur, id, err := openID(f.o.Path)
			if err != nil {
				return
			}
			f.cur, f.curID, f.off, f.buf, f.head = cur, id, 0, nil, nil
			f.acks.setStart(id, 0)
			f.requestSave() // no record: the start position
			f.o.Log.Info("log appeared; following it from its start", "path", f.o.Path)
		}
		// Truncated (copytruncate): shorter than what was read, or, truncated and
		// already regrown past it, its first bytes changed. Checked before reading, so
		// the new content is never read from the old offset.
		if cfi, err := f.cur.Stat(); err == nil && (cfi.Size() < f.off || !f.sameHead()) {
			f.o.Log.Warn("log truncated; reading it from its start", "path", f.o.Path, "offset", f.off, "size", cfi.Size())
			f.dropPartial("truncation")
			f.off, f.buf, f.head = 0, nil, nil
		}
		f.drain()
		fi, err := os.Stat(f.o.Path)
		if err != nil {
			return // rotated away and not recreated yet: keep the old one
		}
		id, err := statID(fi)
		if err != nil || id == f.curID {
			return
		}
		// Rotated. Switch once snmptrapd writes to the new file: from then on the
		// old one no longer grows. Drain the old one once more after seeing that.
		if fi.Size() == 0 {
			return
		}
		f.drain()
		f.dropPartial("rotation")
		f.o.Log.Info("log rotated; following the new file", "path", f.o.Path)
		f.cur.Close()
		f.cur, f.off, f.buf, f.head = nil, 0, nil, nil
		cur, nid, err := openID(f.o.Path)
		if err != nil {
			return
		}
		f.cur, f.curID = cur, nid
	}
}

// dropPartial counts an incomplete record left at the end of a file given up.
func (f *Follower) dropPartial(why string) {
	if len(bytes.TrimSpace(f.buf)) == 0 {
		return
	}
	f.o.Counters.Received.Add(1)
	f.o.Counters.Malformed.Add(1)
	f.o.Limiter.Log(slog.LevelWarn, "partial", "incomplete log record dropped at "+why, "bytes", len(f.buf))
}

// sameHead reports whether the current file still starts with the bytes seen there,
// and extends what is remembered of its start up to printBytes.
func (f *Follower) sameHead() bool {
	if len(f.head) > 0 {
		b := make([]byte, len(f.head))
		if n, _ := f.cur.ReadAt(b, 0); n != len(b) || !bytes.Equal(b, f.head) {
			return false
		}
	}
	if len(f.head) < printBytes {
		b := make([]byte, printBytes)
		n, _ := f.cur.ReadAt(b, 0)
		f.head = b[:n]
	}
	return true
}

// drain reads the current file to its end and hands complete records on.
func (f *Follower) drain() {
	chunk := make([]byte, 64<<10)
	for {
		n, err := f.cur.ReadAt(chunk, f.off)
		if n > 0 {
			f.buf = append(f.buf, chunk[:n]...)
			f.off += int64(n)
			f.parse()
		}
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				f.o.Limiter.Log(slog.LevelError, "read", "read log", "path", f.o.Path, "err", err)
			}
			return
		}
	}
}

// parse hands on the complete records in buf and keeps the rest.
func (f *Follower) parse() {
	base := f.off - int64(len(f.buf))
	recs, n := trap.ParseLog(f.buf, f.o.Location)
	for _, r := range recs {
		f.o.Counters.Received.Add(1)
		seq := f.acks.add(f.curID, base+int64(r.End))
		if r.Err != nil {
			f.o.Counters.Malformed.Add(1)
			f.o.Limiter.Log(slog.LevelWarn, "malformed", "malformed log record", "path", f.o.Path, "offset", base+int64(r.Start), "err", r.Err)
			f.ack(seq)
			continue
		}
		r.Trap.Received = f.clock(r.Trap.Received)
		f.o.Handle(r.Trap, seq, func() { f.ack(seq) })
	}
	f.buf = append(f.buf[:0], f.buf[n:]...)
}

// freshness: a record logged less than this ago is stamped with the time trapd read it.
const freshness = 2 * time.Second

// clock returns the time to stamp a record with. snmptrapd logs whole seconds, so two
// traps of one VM in the same second (destroy, then start) would reach Zabbix with equal
// timestamps, and Zabbix may then order them the wrong way round and show the VM down.
// A fresh record is stamped with the time it was read (finer, and in log order); an
// old one (read after a restart) with its logged second. Either way stamps strictly
// increase in log order.
func (f *Follower) clock(logged time.Time) time.Time {
	now := time.Now()
	c := logged
	if d := now.Sub(logged); d >= 0 && d < freshness {
		c = now
	}
	if !c.After(f.lastClock) {
		c = f.lastClock.Add(time.Microsecond)
	}
	f.lastClock = c
	return c
}

func (f *Follower) ack(seq uint64) {
	if f.acks.done(seq) {
		f.requestSave()
	}
}

// requestSave asks the saver to save the position (a request already pending does).
func (f *Follower) requestSave() {
	select {
	case f.saveReq <- struct{}{}:
	default:
	}
}

// saver writes the acknowledged position when it moves, at most every 20 ms.
func (f *Follower) saver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.saveReq:
		}
		if err := f.save(); err != nil {
			f.o.Limiter.Log(slog.LevelError, "save", "save follow position", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// save writes the acknowledged position if it changed.
func (f *Follower) save() error {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	id, off, ok := f.acks.position()
	if !ok {
		return nil
	}
	if f.saved.File == id && f.saved.Offset == off && f.saved.Print != "" && f.saved.Settled == f.settled {
		return nil
	}
	st, err := f.position(id, off)
	if err != nil {
		return err
	}
	st.Settled = f.settled
	b, _ := json.Marshal(st)
	if err := atomicfile.Write(f.o.StateFile, b, 0o600); err != nil {
		return err
	}
	f.saved = st
	return nil
}

// position is the state for offset off of the file id, fingerprinted. The fingerprint
// comes from the file the position is in, which may be the rotated one: it is found
// by identity.
func (f *Follower) position(id fileID, off int64) (state, error) {
	file, err := f.fileFor(id)
	if err != nil {
		return state{}, fmt.Errorf("open log to fingerprint it: %w", err)
	}
	defer file.Close()
	st := state{File: id, Offset: off}
	if st.Print, st.PrintLen, err = fingerprint(file, off); err != nil {
		return state{}, fmt.Errorf("fingerprint log: %w", err)
	}
	return st, nil
}

// After returns the position just past record seq (handed on, not yet done), for the
// caller's ledger and, after a crash, Options.Resume.
func (f *Follower) After(seq uint64) (json.RawMessage, error) {
	id, end, ok := f.acks.end(seq)
	if !ok {
		return nil, fmt.Errorf("follow: record %d is not pending", seq)
	}
	st, err := f.position(id, end)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(st)
	return b, err
}

// Settle records n as the last ledger record delivered; the caller has called done
// for every record of that batch. It is saved with the position by the saver (within
// about 20 ms) and by Close. Not at once: the ledger already holds the position after
// the batch, and a restart that finds the record still open checks it and resumes
// from there all the same; a second fsync'd write per batch would only slow delivery.
func (f *Follower) Settle(n uint64) {
	f.saveMu.Lock()
	f.settled = n
	f.saveMu.Unlock()
	f.requestSave()
}

func (f *Follower) fileFor(id fileID) (*os.File, error) {
	if file, fid, err := openID(f.o.Path); err == nil {
		if fid == id {
			return file, nil
		}
		file.Close()
	}
	if name, ok := findByID(filepath.Dir(f.o.Path), id); ok {
		return os.Open(name)
	}
	return nil, fmt.Errorf("log file %d:%d not found", id.Dev, id.Ino)
}

// Close saves the acknowledged position and closes the log.
func (f *Follower) Close() error {
	err := f.save()
	if f.cur != nil {
		f.cur.Close()
		f.cur = nil
	}
	return err
}

// acks tracks records handed on, in order, and the position up to which all are done.
type acks struct {
	mu      sync.Mutex
	next    uint64 // sequence number of the next record
	head    uint64 // sequence number of pending[0]
	pending []pendingRec
	last    pendingRec // the last record done with all before it
	have    bool
}

type pendingRec struct {
	file fileID
	end  int64
	done bool
}

func (a *acks) add(file fileID, end int64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending = append(a.pending, pendingRec{file: file, end: end})
	s := a.next
	a.next++
	return s
}

// done marks seq done and reports whether the acknowledged position moved.
func (a *acks) done(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := int(seq - a.head)
	if i < 0 || i >= len(a.pending) {
		return false
	}
	a.pending[i].done = true
	moved := false
	for len(a.pending) > 0 && a.pending[0].done {
		a.last, a.have, moved = a.pending[0], true, true
		a.pending = a.pending[1:]
		a.head++
	}
	if len(a.pending) == 0 {
		a.pending = nil // let the backing array go
	}
	return moved
}

// setStart sets the position before any record is handed on.
func (a *acks) setStart(file fileID, off int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		a.last, a.have = pendingRec{file: file, end: off, done: true}, true
	}
}

// end returns the file and end offset of pending record seq.
func (a *acks) end(seq uint64) (fileID, int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := int(seq - a.head)
	if seq < a.head || i >= len(a.pending) {
		return fileID{}, 0, false
	}
	return a.pending[i].file, a.pending[i].end, true
}

func (a *acks) position() (fileID, int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last.file, a.last.end, a.have
}
