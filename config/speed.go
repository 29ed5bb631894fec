package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Speed is an interface speed in bits per second.
type Speed uint64

var speedUnits = []struct {
	suffix byte
	mult   uint64
}{{'T', 1e12}, {'G', 1e9}, {'M', 1e6}, {'K', 1e3}}

// ParseSpeed reads a speed such as "10G", "100M", "2500M" or "1000": digits
// and an optional K, M, G or T suffix (powers of 1000, either case).
func ParseSpeed(s string) (Speed, error) {
	if s == "" {
		return 0, errors.New("empty speed")
	}
	mult := uint64(1)
	last := s[len(s)-1] &^ 0x20 // upper case
	for _, u := range speedUnits {
		if last == u.suffix {
			mult = u.mult
			s = s[:len(s)-1]
			break
		}
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a speed: want digits with an optional K, M, G or T suffix")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > math.MaxUint64/mult {
		return 0, errors.New("speed out of range")
	}
	if n == 0 {
		return 0, errors.New("speed 0")
	}
	return Speed(n * mult), nil
}

// String writes the speed exactly, with the largest suffix that divides it:
// 10000000000 is "10G", 2500000000 is "2500M".
func (s Speed) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range speedUnits {
		if uint64(s)%u.mult == 0 {
			return strconv.FormatUint(uint64(s)/u.mult, 10) + string(u.suffix)
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// Label is the speed as hsflowd prints it to look up a `sampling.<speed>`
// setting: the decimal digits with the last 3, 6, 9 or 12 of them replaced
// by K, M, G or T, truncating (a 2.5 Gb/s link is "2G").
func (s Speed) Label() string {
	d := strconv.FormatUint(uint64(s), 10)
	switch n := len(d); {
	case n > 12:
		return d[:n-12] + "T"
	case n > 9:
		return d[:n-9] + "G"
	case n > 6:
		return d[:n-6] + "M"
	case n > 3:
		return d[:n-3] + "K"
	}
	return d
}

// UnmarshalText reads a speed as ParseSpeed does.
func (s *Speed) UnmarshalText(b []byte) error {
	v, err := ParseSpeed(string(b))
	if err != nil {
		return errors.New("is not a speed such as 10G or 100M")
	}
	*s = v
	return nil
}

// MarshalText writes the speed as String does.
func (s Speed) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
