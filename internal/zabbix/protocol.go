// Package zabbix speaks to a Zabbix server: the trapper ("sender") protocol that
// zabbix_sender uses, and the JSON-RPC API. No Go Zabbix library can be fetched here
// (shared/LAB-NOTES.md), so the project owns this small client.
package zabbix

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Zabbix header (https://www.zabbix.com/documentation/6.0/en/manual/appendix/protocols/header_datalen):
// "ZBXD", a flags byte, the data length and a reserved (or, when compressed, the
// uncompressed) length, both 4 bytes little-endian; flag 0x04 makes both 8 bytes.
const (
	flagProtocol = 0x01
	flagZlib     = 0x02
	flagLarge    = 0x04
	headerLen    = 13 // "ZBXD" + flags + 4 + 4
)

var magic = []byte("ZBXD")

// ErrProtocol marks a reply that does not follow the Zabbix protocol.
var ErrProtocol = errors.New("zabbix protocol error")

// encodeFrame frames body, zlib-compressed when compress is set.
func encodeFrame(body []byte, compress bool) ([]byte, error) {
	flags := byte(flagProtocol)
	payload := body
	if compress {
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		if _, err := zw.Write(body); err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		payload = b.Bytes()
		flags |= flagZlib
	}
	out := make([]byte, headerLen, headerLen+len(payload))
	copy(out, magic)
	out[4] = flags
	binary.LittleEndian.PutUint32(out[5:], uint32(len(payload)))
	if compress {
		binary.LittleEndian.PutUint32(out[9:], uint32(len(body)))
	}
	return append(out, payload...), nil
}

// readFrame reads one framed message of at most max bytes (after decompression) from r.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:5]); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if !bytes.Equal(h[:4], magic) {
		return nil, fmt.Errorf("%w: reply does not start with ZBXD (got %q)", ErrProtocol, h[:4])
	}
	flags := h[4]
	if flags&flagProtocol == 0 || flags&^(flagProtocol|flagZlib|flagLarge) != 0 {
		return nil, fmt.Errorf("%w: unknown header flags 0x%02x", ErrProtocol, flags)
	}
	var dataLen, rawLen uint64
	if flags&flagLarge != 0 {
		var l [16]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, fmt.Errorf("read header: %w", err)
		}
		dataLen, rawLen = binary.LittleEndian.Uint64(l[:8]), binary.LittleEndian.Uint64(l[8:])
	} else {
		if _, err := io.ReadFull(r, h[5:]); err != nil {
			return nil, fmt.Errorf("read header: %w", err)
		}
		dataLen, rawLen = uint64(binary.LittleEndian.Uint32(h[5:9])), uint64(binary.LittleEndian.Uint32(h[9:13]))
	}
	if dataLen > uint64(max) {
		return nil, fmt.Errorf("%w: reply of %d bytes exceeds the limit of %d", ErrProtocol, dataLen, max)
	}
	data := make([]byte, dataLen)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("read %d-byte reply body: %w", dataLen, err)
	}
	if flags&flagZlib == 0 {
		return data, nil
	}
	if rawLen > uint64(max) {
		return nil, fmt.Errorf("%w: uncompressed reply of %d bytes exceeds the limit of %d", ErrProtocol, rawLen, max)
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed reply: %v", ErrProtocol, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed reply: %v", ErrProtocol, err)
	}
	if uint64(len(out)) != rawLen {
		return nil, fmt.Errorf("%w: compressed reply is %d bytes, header says %d", ErrProtocol, len(out), rawLen)
	}
	return out, nil
}
