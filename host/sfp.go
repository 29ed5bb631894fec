package host

import (
	"encoding/binary"
	"math"

	"gwd/sflow"
)

// eepromReader reads a transceiver module's EEPROM (ethtool). The data is
// in ethtool's flat layout:
//
//	SFP (SFF-8472)   bytes 0-255 the A0h page, 256-511 the A2h diagnostics page
//	QSFP (SFF-8636)  bytes 0-127 lower page 00h, 128-255 upper page 00h,
//	                 and, from drivers that return 640 bytes of a paged
//	                 module, upper pages 01h-03h at 256-639
//
// It returns an error when the interface has no module or the driver does
// not support module EEPROM reads; callers skip the sfp record then.
type eepromReader interface {
	ReadModuleEEPROM(ifName string, buf []byte) ([]byte, error)
	Close() error
}

// SFF-8024 identifiers (byte 0).
const (
	sffIDSFP    = 0x03
	sffIDQSFP   = 0x0C
	sffIDQSFPP  = 0x0D
	sffIDQSFP28 = 0x11
)

// decodeModule decodes the digital diagnostics of an SFP (SFF-8472) or
// QSFP/QSFP+/QSFP28 (SFF-8636) EEPROM into out; false when data is another
// kind of module (e.g. CMIS QSFP-DD/OSFP, not decoded yet) or carries no
// diagnostics. module_id is the interface's ifIndex, as hsflowd sends it.
func decodeModule(data []byte, ifIndex uint32, out *sflow.SFP) bool {
	if len(data) == 0 {
		return false
	}
	switch data[0] {
	case sffIDSFP:
		return decodeSFF8472(data, ifIndex, out)
	case sffIDQSFP, sffIDQSFPP, sffIDQSFP28:
		return decodeSFF8636(data, ifIndex, out)
	}
	return false
}

func be16(b []byte, off int) float64 { return float64(binary.BigEndian.Uint16(b[off:])) }
func bes16(b []byte, off int) float64 {
	return float64(int16(binary.BigEndian.Uint16(b[off:])))
}

// Unit conversions of the SFF diagnostics words.
func tempMilliC(raw float64) int32  { return int32(math.Round(raw * 1000 / 256)) } // 1/256 degC
func voltsMV(raw float64) uint32    { return clampU32(math.Round(raw / 10)) }      // 100 uV
func biasMicroA(raw float64) uint32 { return clampU32(math.Round(raw * 2)) }       // 2 uA
func powerMicroW(raw float64) uint32 {
	return clampU32(math.Round(raw / 10)) // 0.1 uW
}

func clampU32(v float64) uint32 {
	switch {
	case v <= 0 || math.IsNaN(v):
		return 0
	case v >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

// SFF-8472 (SFP) offsets: A0h page, then A2h page (base a2 = 256).
const (
	a0Transceiver8 = 8  // SFP+ cable technology: bits 2-3 passive/active cable
	a0Wavelength   = 60 // 2 bytes, nm
	a0DiagType     = 92 // bit 6 DDM implemented, bit 5 internal, bit 4 external calibration
	a2             = 256
	a2TxPwrHighAlm = a2 + 24
	a2TxPwrLowAlm  = a2 + 26
	a2RxPwrHighAlm = a2 + 32
	a2RxPwrLowAlm  = a2 + 34
	a2RxPwr4       = a2 + 56 // five IEEE-754 floats: Rx_PWR(4) .. Rx_PWR(0)
	a2TxISlope     = a2 + 76
	a2TxPwrSlope   = a2 + 80
	a2TSlope       = a2 + 84
	a2VSlope       = a2 + 88
	a2Temp         = a2 + 96
	a2Vcc          = a2 + 98
	a2TxBias       = a2 + 100
	a2TxPower      = a2 + 102
	a2RxPower      = a2 + 104
)

// decodeSFF8472 decodes an SFP's A2h diagnostics: one lane.
func decodeSFF8472(d []byte, ifIndex uint32, out *sflow.SFP) bool {
	if len(d) < 512 || d[a0DiagType]&0x40 == 0 {
		return false
	}
	var wl uint32
	if d[a0Transceiver8]&0x0C == 0 { // not a copper cable: the field is a wavelength
		wl = uint32(be16(d, a0Wavelength))
	}
	temp, vcc, bias := bes16(d, a2Temp), be16(d, a2Vcc), be16(d, a2TxBias)
	tx, txMax, txMin := be16(d, a2TxPower), be16(d, a2TxPwrHighAlm), be16(d, a2TxPwrLowAlm)
	rx, rxMax, rxMin := be16(d, a2RxPower), be16(d, a2RxPwrHighAlm), be16(d, a2RxPwrLowAlm)
	if d[a0DiagType]&0x10 != 0 {
		// Externally calibrated: value = slope * raw + offset, with an
		// unsigned 8.8 fixed-point slope and a signed offset; rx power
		// is a 4th-degree polynomial with float coefficients. Thresholds
		// are calibrated like the values they bound.
		cal := func(raw float64, at int) float64 {
			slope := be16(d, at) / 256
			return slope*raw + bes16(d, at+2)
		}
		bias = cal(bias, a2TxISlope)
		tx, txMax, txMin = cal(tx, a2TxPwrSlope), cal(txMax, a2TxPwrSlope), cal(txMin, a2TxPwrSlope)
		temp = cal(temp, a2TSlope)
		vcc = cal(vcc, a2VSlope)
		var c [5]float64 // c[k] is the coefficient of raw^k
		for i := range c {
			c[4-i] = float64(math.Float32frombits(binary.BigEndian.Uint32(d[a2RxPwr4+4*i:])))
		}
		poly := func(x float64) float64 {
			return c[0] + x*(c[1]+x*(c[2]+x*(c[3]+x*c[4])))
		}
		rx, rxMax, rxMin = poly(rx), poly(rxMax), poly(rxMin)
	}
	out.ModuleID = ifIndex
	out.ModuleTotalLanes = 1
	out.ModuleSupplyVoltage = voltsMV(vcc)
	out.ModuleTemperature = tempMilliC(temp)
	out.Lanes = append(out.Lanes[:0], sflow.SFPLane{
		Index:         1,
		TxBiasCurrent: biasMicroA(bias),
		TxPower:       powerMicroW(tx),
		TxPowerMin:    powerMicroW(txMin),
		TxPowerMax:    powerMicroW(txMax),
		TxWavelength:  wl,
		RxPower:       powerMicroW(rx),
		RxPowerMin:    powerMicroW(rxMin),
		RxPowerMax:    powerMicroW(rxMax),
		RxWavelength:  wl,
	})
	return true
}

// SFF-8636 (QSFP) offsets. Upper-page offsets are 128-255 as in the spec;
// page 03h sits at 384 + offset in ethtool's 640-byte layout.
const (
	q36Status2     = 2  // bit 2 Flat_mem: no pages beyond 00h
	q36Temp        = 22 // signed, 1/256 degC
	q36Vcc         = 26
	q36RxPower1    = 34 // 4 lanes x 2 bytes
	q36TxBias1     = 42
	q36TxPower1    = 50
	q36DevTech     = 147 // bits 7-4 transmitter technology
	q36Wavelength  = 186 // 2 bytes, 0.05 nm (optical modules)
	q36DiagType    = 220 // bit 2 tx power measured
	q36Page3Base   = 384
	q36RxPwrHighAl = 176
	q36RxPwrLowAl  = 178
	q36TxPwrHighAl = 192
	q36TxPwrLowAl  = 194
	q36Lanes       = 4
)

// decodeSFF8636 decodes a QSFP's lower-page diagnostics: four lanes, with
// per-lane bias, tx and rx power, and the page 03h alarm thresholds when
// present.
func decodeSFF8636(d []byte, ifIndex uint32, out *sflow.SFP) bool {
	if len(d) < 256 {
		return false
	}
	if t := binary.BigEndian.Uint16(d[q36Temp:]); t == 0 || t == 0xFFFF {
		return false // no diagnostics (e.g. a passive copper cable)
	}
	tech := d[q36DevTech] & 0xF0
	var wl uint32
	if tech < 0xA0 { // 0xA0-0xF0 are copper cables: bytes 186-189 are attenuations
		wl = uint32(math.Round(be16(d, q36Wavelength) * 0.05))
		if wl == 0 {
			wl = techWavelength(tech)
		}
	}
	var txMax, txMin, rxMax, rxMin uint32
	if len(d) >= 640 && d[q36Status2]&0x04 == 0 {
		p3 := d[q36Page3Base:]
		rxMax, rxMin = powerMicroW(be16(p3, q36RxPwrHighAl)), powerMicroW(be16(p3, q36RxPwrLowAl))
		txMax, txMin = powerMicroW(be16(p3, q36TxPwrHighAl)), powerMicroW(be16(p3, q36TxPwrLowAl))
	}
	txMeasured := d[q36DiagType]&0x04 != 0
	out.ModuleID = ifIndex
	out.ModuleTotalLanes = q36Lanes
	out.ModuleSupplyVoltage = voltsMV(be16(d, q36Vcc))
	out.ModuleTemperature = tempMilliC(bes16(d, q36Temp))
	out.Lanes = out.Lanes[:0]
	for i := range q36Lanes {
		l := sflow.SFPLane{
			Index:         uint32(i + 1),
			TxBiasCurrent: biasMicroA(be16(d, q36TxBias1+2*i)),
			TxWavelength:  wl,
			RxPower:       powerMicroW(be16(d, q36RxPower1+2*i)),
			RxPowerMin:    rxMin,
			RxPowerMax:    rxMax,
			RxWavelength:  wl,
		}
		if txMeasured {
			l.TxPower = powerMicroW(be16(d, q36TxPower1+2*i))
			l.TxPowerMin, l.TxPowerMax = txMin, txMax
		}
		out.Lanes = append(out.Lanes, l)
	}
	return true
}

// techWavelength is the nominal wavelength (nm) of an SFF-8636
// transmitter technology code (byte 147 bits 7-4), 0 when it names none.
func techWavelength(tech byte) uint32 {
	switch tech >> 4 {
	case 0: // 850 nm VCSEL
		return 850
	case 1, 3, 4, 6: // 1310 nm VCSEL, FP, DFB, EML
		return 1310
	case 2, 5, 7: // 1550 nm VCSEL, DFB, EML
		return 1550
	case 9: // 1490 nm DFB
		return 1490
	}
	return 0
}
