//go:build unix

package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// SQLite's change stamp is the WAL-index header, read from the database's
// shared-memory file (the "-shm" beside it), which SQLite maps into every
// process that has the database open. Its format is documented and stable
// (https://sqlite.org/walformat.html, version 3007000 since SQLite 3.7.0):
// two copies of a 48-byte header at offset 0 and 48, which a committing
// writer updates, second copy first, before it releases the write lock;
// its fields include a counter incremented by every commit (iChange), the
// last valid frame (mxFrame) and the WAL's salts, and a checksum over them.
// A reader begins its snapshot from that same header, so a read made
// between two identical header readings saw exactly that state. Reading it
// costs a few loads, where asking SQLite (PRAGMA data_version) would cost
// a statement and a read transaction: the lookup it is meant to save.
//
// The shared-memory file must stay the one SQLite uses for as long as we
// read it. SQLite deletes it when the last connection of every process
// closes (and a new connection then makes a new file, which our mapping
// would never see); so the watch holds one connection of its own, outside
// the pool, open until Close: while it is open, no process can be the last.
// And POSIX locks belong to a process and an inode, so closing any
// descriptor of the shared-memory file drops every lock SQLite holds on it
// in this process: our descriptor is shared by the handles of one file and
// closed only with the last of them (shmFiles).

const (
	walIndexVersion = 3007000
	walHeaderSize   = 48
)

// shmFile is one mapped shared-memory file, shared by the handles that
// opened its database in this process.
type shmFile struct {
	key  [2]uint64 // device, inode
	f    *os.File
	mem  []byte
	refs int
}

var (
	shmMu    sync.Mutex
	shmFiles = map[[2]uint64]*shmFile{}
)

// sqliteWatch is an open handle's view of its shared-memory file.
type sqliteWatch struct {
	hdr    *[2][6]uint64
	closed atomic.Bool
}

// Stamp reads both copies of the WAL-index header: they differ only while
// a writer is updating them (then ok is false, as it is for a header
// SQLite has not initialized or of another version, and after Close).
func (w *sqliteWatch) Stamp() (ChangeStamp, bool) {
	var s, again ChangeStamp
	for i := range s.w {
		s.w[i] = atomic.LoadUint64(&w.hdr[0][i])
	}
	for i := range again.w {
		again.w[i] = atomic.LoadUint64(&w.hdr[1][i])
	}
	// iVersion is the first 32-bit field and isInit the byte after the
	// third; the header is in the host's byte order, as we read it.
	ok := s == again && uint32(s.w[0]) == walIndexVersion && (s.w[1]>>32)&0xff == 1 && !w.closed.Load()
	return s, ok
}

// watchSQLite maps the shared-memory file of the SQLite database at path
// and opens the connection that keeps it in use (conn, from the pool's
// connector). The returned release closes both; call it after the pool is
// closed.
func watchSQLite(ctx context.Context, path string, connect func(context.Context) (driver.Conn, error)) (ChangeWatch, func(), error) {
	if hostBigEndian() {
		// The header's fields are read as the little-endian words above.
		return nil, nil, errors.New("change watch: big-endian host")
	}
	conn, err := connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	// One read makes the connection open the WAL and map the shared
	// memory (holding its lock), before we look for the file.
	if err := touchDatabase(ctx, conn); err != nil {
		conn.Close()
		return nil, nil, err
	}
	sf, err := openShm(path + "-shm")
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	w := &sqliteWatch{hdr: (*[2][6]uint64)(unsafe.Pointer(&sf.mem[0]))}
	var once sync.Once
	release := func() {
		once.Do(func() {
			w.closed.Store(true)
			conn.Close()
			releaseShm(sf)
		})
	}
	return w, release, nil
}

// touchDatabase runs one read on conn.
func touchDatabase(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return errors.New("change watch: driver connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT count(*) FROM sqlite_master", nil)
	if err != nil {
		return err
	}
	dest := make([]driver.Value, len(rows.Columns()))
	err = rows.Next(dest)
	rows.Close()
	return err
}

// openShm maps the first page of the shared-memory file at path, or takes
// one more reference to the mapping this process already has of it.
func openShm(path string) (*shmFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("change watch: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("change watch: no inode")
	}
	key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	shmMu.Lock()
	defer shmMu.Unlock()
	if sf := shmFiles[key]; sf != nil {
		sf.refs++
		return sf, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("change watch: %w", err)
	}
	// SQLite sizes the file in 32 KiB regions once it is in use; a
	// smaller one is not (yet) a WAL index, and reading a mapped page
	// past the end of a file faults.
	if fi, err := f.Stat(); err != nil || fi.Size() < 2*walHeaderSize {
		f.Close()
		return nil, errors.New("change watch: shared-memory file not initialized")
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("change watch: map: %w", err)
	}
	sf := &shmFile{key: key, f: f, mem: mem, refs: 1}
	shmFiles[key] = sf
	return sf, nil
}

// releaseShm drops one reference to sf; the last closes the descriptor.
// The mapping itself stays (a stamp being read at that moment must not
// fault): one page per database file for the life of the process.
func releaseShm(sf *shmFile) {
	shmMu.Lock()
	defer shmMu.Unlock()
	sf.refs--
	if sf.refs == 0 {
		delete(shmFiles, sf.key)
		sf.f.Close()
	}
}

func hostBigEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}
