package host

import (
	"errors"
	"io/fs"
	"syscall"
	"unsafe"

	"gwd/internal/textscan"
)

// fileReader reads small procfs / sysfs files into a reused buffer without
// allocating: the path is built NUL-terminated in a reused slice and opened
// with openat(2) directly, so a poll costs syscalls and no garbage. One
// fileReader belongs to one poller; it is not safe for concurrent use.
type fileReader struct {
	buf  []byte
	path []byte
	kept []keptFile
}

// keptFile is a file readKept holds open.
type keptFile struct {
	path string // NUL-terminated, as r.path
	fd   int
}

// maxKept bounds the files one reader holds open.
const maxKept = 16

const maxFileBytes = 16 << 20 // a /proc file larger than this is not one of ours

var atFDCWD = -100 // AT_FDCWD; a variable so that uintptr(atFDCWD) compiles

// read returns the contents of dir+name (either may be empty). The result
// aliases the reader's buffer and is valid until the next read. Errors are
// *fs.PathError naming the file.
func (r *fileReader) read(dir, name string) ([]byte, error) {
	b, err := r.load(dir, name)
	if errno, ok := err.(syscall.Errno); ok {
		return nil, r.pathErr("open", errno)
	}
	return b, err
}

// load is read with a bare syscall.Errno (no allocation) when the file
// cannot be opened.
func (r *fileReader) load(dir, name string) ([]byte, error) {
	r.path = append(append(append(r.path[:0], dir...), name...), 0)
	fd, err := openRO(r.path)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	return r.readAll(fd, false, false)
}

// readAll reads fd to its end into the reader's buffer: with pread(2)
// from offset 0 when fromStart, else with read(2) from where it is; whole
// is readKept's. The result aliases the buffer.
func (r *fileReader) readAll(fd int, fromStart, whole bool) ([]byte, error) {
	if cap(r.buf) < 512 {
		r.buf = make([]byte, 0, 8192)
	}
	b := r.buf[:0]
	for {
		if len(b) == cap(b) {
			if cap(b) >= maxFileBytes {
				return nil, r.pathErr("read", errors.New("file too large"))
			}
			nb := make([]byte, len(b), 2*cap(b))
			copy(nb, b)
			b = nb
		}
		var n int
		var err error
		if fromStart {
			n, err = syscall.Pread(fd, b[len(b):cap(b)], int64(len(b)))
		} else {
			n, err = syscall.Read(fd, b[len(b):cap(b)])
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			r.buf = b[:0]
			return nil, r.pathErr("read", err)
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
		if whole && len(b) < cap(b) {
			break
		}
	}
	r.buf = b[:0]
	return b, nil
}

// readKept is read for a file read on every poll: it is opened once and
// read again from offset 0 with pread(2) (procfs and sysfs make a file's
// contents anew when it is read from the start), so a poll costs one
// system call for it, or two, instead of four (open, read, read to the
// end, close). whole says the kernel hands the file over in one piece
// (a single_open procfs file, a sysctl string, a regular file): a read
// that leaves room in the buffer has then reached the end. Multi-record
// seq files (mounts, diskstats, vmstat) come at most a page per read and
// are read until a read returns nothing. Call closeKept when done.
func (r *fileReader) readKept(dir, name string, whole bool) ([]byte, error) {
	r.path = append(append(append(r.path[:0], dir...), name...), 0)
	k := -1
	for i := range r.kept {
		if r.kept[i].path == string(r.path) {
			k = i
			break
		}
	}
	if k < 0 {
		if len(r.kept) >= maxKept {
			return r.read(dir, name)
		}
		fd, err := openRO(r.path)
		if err != nil {
			return r.read(dir, name) // says which file and why
		}
		r.kept = append(r.kept, keptFile{path: string(r.path), fd: fd})
		k = len(r.kept) - 1
	}
	fd := r.kept[k].fd
	b, err := r.readAll(fd, true, whole)
	if err != nil {
		// The file went away or cannot be read again: forget it; the
		// next poll opens it anew.
		syscall.Close(fd)
		r.kept = append(r.kept[:k], r.kept[k+1:]...)
	}
	return b, err
}

// closeKept closes the files readKept holds open.
func (r *fileReader) closeKept() {
	for _, k := range r.kept {
		syscall.Close(k.fd)
	}
	r.kept = nil
}

// pathErr names the file of the last read (allocating: error path only).
func (r *fileReader) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: string(r.path[:len(r.path)-1]), Err: err}
}

// readUint reads a file holding one unsigned decimal number.
func (r *fileReader) readUint(dir, name string) (uint64, error) {
	b, err := r.read(dir, name)
	if err != nil {
		return 0, err
	}
	v, ok := parseUint(textscan.TrimSpace(b))
	if !ok {
		return 0, r.pathErr("parse", errors.New("not an unsigned number: "+quoteShort(b)))
	}
	return v, nil
}

// readOptUint is readUint for a file the kernel may not have: a missing
// file gives ok false and no error (and no allocation).
func (r *fileReader) readOptUint(dir, name string) (v uint64, ok bool, err error) {
	b, err := r.load(dir, name)
	if err == syscall.ENOENT {
		return 0, false, nil
	}
	if errno, isErrno := err.(syscall.Errno); isErrno {
		return 0, false, r.pathErr("open", errno)
	}
	if err != nil {
		return 0, false, err
	}
	v, ok = parseUint(textscan.TrimSpace(b))
	if !ok {
		return 0, false, r.pathErr("parse", errors.New("not an unsigned number: "+quoteShort(b)))
	}
	return v, true, nil
}

// readOptInt reads a signed number from a file that may be missing or
// unreadable for now (speed of a link that is down: EINVAL); ok is false
// then, without an error value being built.
func (r *fileReader) readOptInt(dir, name string) (v int64, ok bool) {
	b, err := r.load(dir, name)
	if err != nil {
		return 0, false
	}
	return parseInt(textscan.TrimSpace(b))
}

// openRO opens a NUL-terminated path read-only.
func openRO(path []byte) (int, error) {
	for {
		fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(atFDCWD),
			uintptr(unsafe.Pointer(&path[0])), uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

// isNotExist reports whether err says a file or directory is missing
// (ENOENT, or ENODEV/ENXIO from a sysfs attribute of a vanished device).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO)
}

// quoteShort renders the first bytes of b for an error message.
func quoteShort(b []byte) string {
	b = textscan.TrimSpace(b)
	if len(b) > 40 {
		b = b[:40]
	}
	return "\"" + string(b) + "\""
}

// --- allocation-free parsing helpers ---

// parseUint parses an unsigned decimal number; it saturates rather than
// overflows (no kernel counter reaches 2^64).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			v = ^uint64(0)
			continue
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses a signed decimal number.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// parseHex parses "0x1003" or "1003" as hexadecimal.
func parseHex(b []byte) (uint64, bool) {
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// parseDecimal parses "12.34" into its integer part and a float value
// (enough precision for load averages and MHz figures).
func parseDecimal(b []byte) (intPart uint64, f float64, ok bool) {
	dot := -1
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		v, ok := parseUint(b)
		return v, float64(v), ok
	}
	ip, ok := parseUint(b[:dot])
	if !ok && dot != 0 {
		return 0, 0, false
	}
	frac := b[dot+1:]
	if len(frac) > 9 {
		frac = frac[:9]
	}
	fv, ok2 := parseUint(frac)
	if !ok2 && len(frac) > 0 {
		return 0, 0, false
	}
	scale := 1.0
	for range frac {
		scale *= 10
	}
	return ip, float64(ip) + float64(fv)/scale, true
}

// hasPrefix is bytes.HasPrefix for a string prefix.
func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}
