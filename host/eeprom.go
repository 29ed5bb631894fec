package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolEEPROM reads module EEPROMs with the legacy ethtool ioctls
// ETHTOOL_GMODULEINFO (type and length) and ETHTOOL_GMODULEEEPROM (the
// bytes), which every driver with module support implements (the kernel
// serves them from the same driver hook as the netlink MODULE_EEPROM_GET).
// It is best effort: any failure makes the caller skip the sfp record.
type ethtoolEEPROM struct {
	mu      sync.Mutex
	fd      int // AF_INET datagram socket for the ioctls; -1 until needed
	scratch []byte
}

const (
	siocEthtool           = 0x8946
	ethtoolGModuleInfo    = 0x42
	ethtoolGModuleEEPROM  = 0x43
	ethtoolEEPROMHdrBytes = 16  // struct ethtool_eeprom: cmd, magic, offset, len
	maxModuleEEPROM       = 640 // ETH_MODULE_SFF_8636_MAX_LEN, the largest layout
)

func newEthtoolEEPROM() *ethtoolEEPROM { return &ethtoolEEPROM{fd: -1} }

// ifreqData is struct ifreq with ifr_data set (40 bytes on 64-bit).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ethtoolModInfo is struct ethtool_modinfo.
type ethtoolModInfo struct {
	cmd, typ, eepromLen uint32
	_                   [8]uint32
}

// ReadModuleEEPROM implements eepromReader.
func (e *ethtoolEEPROM) ReadModuleEEPROM(ifName string, buf []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(ifName) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("ethtool %s: interface name too long", ifName)
	}
	if e.fd < 0 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("ethtool socket: %w", err)
		}
		e.fd = fd
	}
	info := ethtoolModInfo{cmd: ethtoolGModuleInfo}
	if err := e.ioctl(ifName, unsafe.Pointer(&info)); err != nil {
		return nil, fmt.Errorf("ethtool module info %s: %w", ifName, err)
	}
	n := int(info.eepromLen)
	if n == 0 {
		return nil, fmt.Errorf("ethtool module info %s: empty EEPROM", ifName)
	}
	n = min(n, maxModuleEEPROM)
	if cap(e.scratch) < ethtoolEEPROMHdrBytes+maxModuleEEPROM {
		e.scratch = make([]byte, ethtoolEEPROMHdrBytes+maxModuleEEPROM)
	}
	s := e.scratch[:ethtoolEEPROMHdrBytes+n]
	clear(s)
	binary.NativeEndian.PutUint32(s[0:], ethtoolGModuleEEPROM)
	binary.NativeEndian.PutUint32(s[12:], uint32(n)) // offset 0, len n
	if err := e.ioctl(ifName, unsafe.Pointer(&s[0])); err != nil {
		return nil, fmt.Errorf("ethtool module eeprom %s: %w", ifName, err)
	}
	got := min(int(binary.NativeEndian.Uint32(s[12:])), n)
	return append(buf[:0], s[ethtoolEEPROMHdrBytes:ethtoolEEPROMHdrBytes+got]...), nil
}

func (e *ethtoolEEPROM) ioctl(ifName string, data unsafe.Pointer) error {
	var ifr ifreqData
	copy(ifr.name[:], ifName)
	ifr.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(e.fd), siocEthtool, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ifr)
	if errno != 0 {
		return errno
	}
	return nil
}

// Close releases the socket.
func (e *ethtoolEEPROM) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fd < 0 {
		return nil
	}
	err := unix.Close(e.fd)
	e.fd = -1
	if err != nil {
		return errors.Join(errors.New("ethtool socket close"), err)
	}
	return nil
}
