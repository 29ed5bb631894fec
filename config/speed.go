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

// SpeedRange selects interfaces by speed. The zero SpeedRange selects
// nothing; Max 0 means exactly Min; Max math.MaxUint64 means Min and above.
type SpeedRange struct {
	Min, Max Speed
}

// IsZero reports whether the range is unset.
func (r SpeedRange) IsZero() bool { return r == SpeedRange{} }

// Contains reports whether speed s is in the range.
func (r SpeedRange) Contains(s Speed) bool {
	if r.IsZero() {
		return false
	}
	if r.Max == 0 {
		return s == r.Min
	}
	return s >= r.Min && s <= r.Max
}

// String writes the range as ParseSpeedRange reads it: "10G", "1G-100G"
// or "1G-" (1G and above).
func (r SpeedRange) String() string {
	switch {
	case r.IsZero():
		return ""
	case r.Max == 0:
		return r.Min.String()
	case r.Max == math.MaxUint64:
		return r.Min.String() + "-"
	}
	return r.Min.String() + "-" + r.Max.String()
}

// ParseSpeedRange reads "SPEED", "MIN-MAX" or "MIN-" (hsflowd's pcap speed
// syntax).
func ParseSpeedRange(s string) (SpeedRange, error) {
	lo, hi, dash := strings.Cut(s, "-")
	min, err := ParseSpeed(lo)
	if err != nil {
		return SpeedRange{}, err
	}
	if !dash {
		return SpeedRange{Min: min}, nil
	}
	if hi == "" {
		return SpeedRange{Min: min, Max: math.MaxUint64}, nil
	}
	max, err := ParseSpeed(hi)
	if err != nil {
		return SpeedRange{}, err
	}
	if max < min {
		return SpeedRange{}, errors.New("speed range ends below its start")
	}
	if max == math.MaxUint64 && min == max {
		return SpeedRange{Min: min}, nil
	}
	return SpeedRange{Min: min, Max: max}, nil
}
