// Package spool is trapd's disk spool: Zabbix item values that could not be sent,
// kept in order until the server answers again. It is bounded, every append is
// fsync'd before it returns, and what was taken out is remembered across restarts, so
// that a value handed to the spool is neither lost nor sent twice by a restart.
//
// On disk, a folder of segment files (<sequence>.seg) of records, each one batch of
// values: a 4-byte big-endian length, a 4-byte CRC-32C of the payload, and the payload
// (JSON). A file "cursor" names the segment and offset of the oldest batch not yet
// acknowledged. A record cut short by a crash (a torn append, which never returned) is
// cut off when the spool opens.
package spool

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Options configure a Spool.
type Options struct {
	// MaxBytes bounds the spool on disk. When an append takes it past the bound, the
	// oldest segments are deleted (their values are lost and counted): for VM states the
	// newest values matter most. Default 256 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts. Default 4 MiB.
	SegmentBytes int64
}

// Spool is an ordered, bounded, durable queue of value batches. Safe for concurrent use.
type Spool struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []*segment // oldest first; the last one is appended to
	w        *os.File   // the last segment, open for append
	cursor   position   // oldest unacknowledged record
	next     position   // the record after the one Peek returned
	peeked   bool
	values   int   // values not yet acknowledged
	size     int64 // bytes of all segments
	readFile *os.File
	readSeq  uint64
}

type segment struct {
	seq     uint64
	size    int64
	records []record // offsets and value counts, for acknowledging and dropping
}

type record struct {
	off    int64
	values int
}

type position struct {
	Seq uint64 `json:"seg"`
	Off int64  `json:"off"`
}

// wireValue is a value as stored: Clock in Unix nanoseconds (0: let the server stamp).
type wireValue struct {
	Host  string `json:"h"`
	Key   string `json:"k"`
	Value string `json:"v"`
	Clock int64  `json:"c,omitempty"`
}

const (
	headerLen = 8
	// maxRecord bounds one record: a corrupt length must not make Open allocate GBs.
	maxRecord  = 64 << 20
	cursorName = "cursor"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrEmpty is returned by Peek when nothing is spooled.
var ErrEmpty = errors.New("spool is empty")

// Open opens (creating it if needed) the spool in dir.
func Open(dir string, o Options) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	if o.SegmentBytes > o.MaxBytes {
		o.SegmentBytes = o.MaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool folder: %w", err)
	}
	s := &Spool{dir: dir, opts: o}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, fmt.Errorf("list spool %s: %w", dir, err)
	}
	for _, n := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".seg"), 10, 64)
		if err != nil {
			continue // not ours
		}
		s.segs = append(s.segs, &segment{seq: seq})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if err := s.readCursor(); err != nil {
		return nil, err
	}
	for i, seg := range s.segs {
		if err := s.scan(seg, i == len(s.segs)-1); err != nil {
			return nil, err
		}
	}
	// Drop segments wholly before the cursor (acknowledged, deletion interrupted).
	for len(s.segs) > 0 && s.segs[0].seq < s.cursor.Seq {
		if err := os.Remove(s.path(s.segs[0].seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove acknowledged spool segment: %w", err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) > 0 && s.cursor.Seq < s.segs[0].seq {
		s.cursor = position{Seq: s.segs[0].seq}
	}
	if len(s.segs) == 0 {
		seq := s.cursor.Seq
		if seq == 0 {
			seq = 1
		}
		if err := s.newSegment(seq); err != nil {
			return nil, err
		}
		s.cursor = position{Seq: seq}
	} else {
		last := s.segs[len(s.segs)-1]
		f, err := os.OpenFile(s.path(last.seq), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open spool segment: %w", err)
		}
		s.w = f
	}
	for _, seg := range s.segs {
		s.size += seg.size
		s.values += s.pending(seg)
	}
	s.next = s.cursor
	return s, nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d.seg", seq))
}

func (s *Spool) readCursor() error {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorName))
	if errors.Is(err, os.ErrNotExist) {
		if len(s.segs) > 0 {
			s.cursor = position{Seq: s.segs[0].seq}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool cursor: %w", err)
	}
	if err := json.Unmarshal(b, &s.cursor); err != nil {
		return fmt.Errorf("spool cursor %s: %w", filepath.Join(s.dir, cursorName), err)
	}
	return nil
}

// scan indexes a segment's records. A bad record in the last segment is a torn append
// and is cut off; in an older segment it ends that segment's readable part.
func (s *Spool) scan(seg *segment, last bool) error {
	f, err := os.Open(s.path(seg.seq))
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var off int64
	for {
		payload, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			if last {
				if err := os.Truncate(s.path(seg.seq), off); err != nil {
					return fmt.Errorf("cut torn record off spool segment %d: %w", seg.seq, err)
				}
			}
			break
		}
		var vs []wireValue
		if err := json.Unmarshal(payload, &vs); err != nil {
			break
		}
		seg.records = append(seg.records, record{off: off, values: len(vs)})
		off += headerLen + int64(len(payload))
	}
	seg.size = off
	return nil
}

func readRecord(r io.Reader) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("record header: %w", err)
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n > maxRecord {
		return nil, fmt.Errorf("record of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("record payload: %w", err)
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errors.New("record checksum mismatch")
	}
	return payload, nil
}

func (s *Spool) newSegment(seq uint64) error {
	f, err := os.OpenFile(s.path(seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	if s.w != nil {
		s.w.Close()
	}
	s.w = f
	s.segs = append(s.segs, &segment{seq: seq})
	return nil
}

// Append writes one batch at the end of the spool and fsyncs it. It returns how many
// older values were dropped to keep the spool within its bound.
func (s *Spool) Append(values []zabbix.Value) (dropped int, err error) {
	if len(values) == 0 {
		return 0, nil
	}
	payload, err := json.Marshal(encode(values))
	if err != nil {
		return 0, fmt.Errorf("encode %d values: %w", len(values), err)
	}
	if len(payload) > maxRecord {
		return 0, fmt.Errorf("spool %d values: batch of %d bytes exceeds %d", len(values), len(payload), maxRecord)
	}
	buf := make([]byte, headerLen+len(payload))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:8], crc32.Checksum(payload, castagnoli))
	copy(buf[headerLen:], payload)

	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+int64(len(buf)) > s.opts.SegmentBytes {
		if err := s.newSegment(last.seq + 1); err != nil {
			return 0, err
		}
		last = s.segs[len(s.segs)-1]
	}
	if _, err := s.w.Write(buf); err != nil {
		// Cut off whatever part was written, so the segment stays readable.
		os.Truncate(s.path(last.seq), last.size)
		return 0, fmt.Errorf("append to spool: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		return 0, fmt.Errorf("fsync spool: %w", err)
	}
	last.records = append(last.records, record{off: last.size, values: len(values)})
	last.size += int64(len(buf))
	s.size += int64(len(buf))
	s.values += len(values)
	for s.size > s.opts.MaxBytes && len(s.segs) > 1 {
		n, err := s.dropOldest()
		dropped += n
		if err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// dropOldest deletes the oldest segment and returns how many unacknowledged values it held.
func (s *Spool) dropOldest() (int, error) {
	seg := s.segs[0]
	n := s.pending(seg)
	if s.readFile != nil && s.readSeq == seg.seq {
		s.readFile.Close()
		s.readFile = nil
	}
	if err := os.Remove(s.path(seg.seq)); err != nil {
		return 0, fmt.Errorf("drop spool segment: %w", err)
	}
	s.segs = s.segs[1:]
	s.size -= seg.size
	s.values -= n
	if s.cursor.Seq > seg.seq {
		return n, nil
	}
	s.cursor = position{Seq: s.segs[0].seq}
	s.next, s.peeked = s.cursor, false
	return n, s.writeCursor()
}

// pending counts the values of seg at or after the cursor.
func (s *Spool) pending(seg *segment) int {
	n := 0
	for _, r := range seg.records {
		if seg.seq > s.cursor.Seq || (seg.seq == s.cursor.Seq && r.off >= s.cursor.Off) {
			n += r.values
		}
	}
	return n
}

// Peek returns the oldest unacknowledged batch, or ErrEmpty.
func (s *Spool) Peek() ([]zabbix.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		i := s.segIndex(s.cursor.Seq)
		if i < 0 {
			return nil, ErrEmpty
		}
		seg := s.segs[i]
		if s.cursor.Off >= seg.size {
			if i == len(s.segs)-1 {
				return nil, ErrEmpty
			}
			// Past the end of a finished segment: move on (and remove it).
			if err := s.advance(position{Seq: s.segs[i+1].seq}); err != nil {
				return nil, err
			}
			continue
		}
		if s.readFile == nil || s.readSeq != seg.seq {
			if s.readFile != nil {
				s.readFile.Close()
			}
			f, err := os.Open(s.path(seg.seq))
			if err != nil {
				return nil, fmt.Errorf("open spool segment: %w", err)
			}
			s.readFile, s.readSeq = f, seg.seq
		}
		values, n, err := batchAt(s.readFile, seg, s.cursor.Off)
		if err != nil {
			return nil, err
		}
		s.next, s.peeked = position{Seq: seg.seq, Off: s.cursor.Off + n}, true
		return values, nil
	}
}

// Ack acknowledges the batch Peek returned last: it will not be returned again, even
// after a restart (the cursor is fsync'd).
func (s *Spool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.peeked {
		return errors.New("spool: Ack without Peek")
	}
	if i := s.segIndex(s.cursor.Seq); i >= 0 {
		for _, r := range s.segs[i].records {
			if r.off == s.cursor.Off {
				s.values -= r.values
			}
		}
	}
	s.peeked = false
	return s.advance(s.next)
}

// advance moves the cursor to p, persists it, and removes segments wholly before it.
func (s *Spool) advance(p position) error {
	s.cursor, s.next = p, p
	if err := s.writeCursor(); err != nil {
		return err
	}
	for len(s.segs) > 1 && s.segs[0].seq < s.cursor.Seq {
		seg := s.segs[0]
		if s.readFile != nil && s.readSeq == seg.seq {
			s.readFile.Close()
			s.readFile = nil
		}
		if err := os.Remove(s.path(seg.seq)); err != nil {
			return fmt.Errorf("remove replayed spool segment: %w", err)
		}
		s.segs = s.segs[1:]
		s.size -= seg.size
	}
	// An empty spool starts its one segment over, so it does not grow forever.
	if len(s.segs) == 1 && s.cursor.Off > 0 && s.cursor.Off >= s.segs[0].size {
		seg := s.segs[0]
		if err := s.newSegment(seg.seq + 1); err != nil {
			return err
		}
		s.cursor, s.next = position{Seq: seg.seq + 1}, position{Seq: seg.seq + 1}
		if err := s.writeCursor(); err != nil {
			return err
		}
		if s.readFile != nil {
			s.readFile.Close()
			s.readFile = nil
		}
		if err := os.Remove(s.path(seg.seq)); err != nil {
			return fmt.Errorf("remove replayed spool segment: %w", err)
		}
		s.segs = s.segs[1:]
		s.size -= seg.size
	}
	return nil
}

func (s *Spool) segIndex(seq uint64) int {
	for i, seg := range s.segs {
		if seg.seq == seq {
			return i
		}
	}
	return -1
}

// writeCursor replaces the cursor file atomically and durably.
func (s *Spool) writeCursor() error {
	b, _ := json.Marshal(s.cursor)
	return atomicfile.Write(filepath.Join(s.dir, cursorName), b, 0o600)
}

// Values returns how many values are spooled and not yet acknowledged.
func (s *Spool) Values() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values
}

// Bytes returns the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Close closes the spool's files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readFile != nil {
		s.readFile.Close()
		s.readFile = nil
	}
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		return err
	}
	return nil
}

// syncDir makes a new segment's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// Last returns the newest batch still on disk, acknowledged or not (nil: none). A
// sender that died after spooling a batch and before recording that learns from it
// that the batch is spooled.
func (s *Spool) Last() ([]zabbix.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.segs) - 1; i >= 0; i-- {
		seg := s.segs[i]
		if len(seg.records) == 0 {
			continue
		}
		r := seg.records[len(seg.records)-1]
		f, err := os.Open(s.path(seg.seq))
		if err != nil {
			return nil, fmt.Errorf("open spool segment: %w", err)
		}
		defer f.Close()
		values, _, err := batchAt(f, seg, r.off)
		return values, err
	}
	return nil, nil
}

// batchAt reads the record at off of seg (open as f) and returns its values and length.
func batchAt(f *os.File, seg *segment, off int64) ([]zabbix.Value, int64, error) {
	payload, err := readRecord(io.NewSectionReader(f, off, seg.size-off))
	if err != nil {
		return nil, 0, fmt.Errorf("read spool segment %d at %d: %w", seg.seq, off, err)
	}
	var ws []wireValue
	if err := json.Unmarshal(payload, &ws); err != nil {
		return nil, 0, fmt.Errorf("decode spool segment %d at %d: %w", seg.seq, off, err)
	}
	return decode(ws), headerLen + int64(len(payload)), nil
}
