package host

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gwd/sflow"
)

// The EEPROM images below are built field by field from the SFF-8472 and
// SFF-8636 memory maps (offsets in the comments), in ethtool's layout.

func put16(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }
func putF32(b []byte, off int, v float32) {
	binary.BigEndian.PutUint32(b[off:], math.Float32bits(v))
}

// sff8472Fixture is a 10GBASE-LR SFP+ (A0h + A2h, 512 bytes), internally
// calibrated.
func sff8472Fixture() []byte {
	d := make([]byte, 512)
	d[0] = 0x03             // identifier: SFP/SFP+/SFP28
	d[1] = 0x04             // extended identifier: 2-wire ID
	d[3] = 0x20             // 10GBASE-LR
	put16(d, 60, 1310)      // wavelength, nm
	d[92] = 0x40 | 0x20     // DDM implemented, internally calibrated
	put16(d, 256+24, 12590) // Tx power high alarm, 0.1 uW
	put16(d, 256+26, 1000)  // Tx power low alarm
	put16(d, 256+32, 20000) // Rx power high alarm
	put16(d, 256+34, 100)   // Rx power low alarm
	put16(d, 256+96, 0x1E80)
	put16(d, 256+98, 33000) // Vcc, 100 uV
	put16(d, 256+100, 3000) // Tx bias, 2 uA
	put16(d, 256+102, 5012) // Tx power, 0.1 uW
	put16(d, 256+104, 4000) // Rx power, 0.1 uW
	return d
}

func TestDecodeSFF8472(t *testing.T) {
	d := sff8472Fixture()
	var got sflow.SFP
	if !decodeModule(d, 9, &got) {
		t.Fatal("not decoded")
	}
	want := sflow.SFP{
		ModuleID: 9, ModuleTotalLanes: 1, ModuleSupplyVoltage: 3300, ModuleTemperature: 30500,
		Lanes: []sflow.SFPLane{{
			Index: 1, TxBiasCurrent: 6000, TxPower: 501, TxPowerMin: 100, TxPowerMax: 1259, TxWavelength: 1310,
			RxPower: 400, RxPowerMin: 10, RxPowerMax: 2000, RxWavelength: 1310,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("internally calibrated (-want +got):\n%s", diff)
	}

	// Negative temperature: two's complement, 1/256 degC.
	put16(d, 256+96, 0xF580) // -10.5 degC
	decodeModule(d, 9, &got)
	if got.ModuleTemperature != -10500 {
		t.Errorf("temperature = %d mC, want -10500", got.ModuleTemperature)
	}
}

func TestDecodeSFF8472ExternalCalibration(t *testing.T) {
	d := sff8472Fixture()
	d[92] = 0x40 | 0x10      // DDM implemented, externally calibrated
	putF32(d, 256+56, 0)     // Rx_PWR(4)
	putF32(d, 256+60, 0)     // Rx_PWR(3)
	putF32(d, 256+64, 0)     // Rx_PWR(2)
	putF32(d, 256+68, 2)     // Rx_PWR(1)
	putF32(d, 256+72, 50)    // Rx_PWR(0)
	put16(d, 256+76, 0x0200) // Tx_I slope 2.0
	put16(d, 256+78, 100)    // Tx_I offset
	put16(d, 256+80, 0x0180) // Tx_PWR slope 1.5
	put16(d, 256+82, 0xFFF4) // Tx_PWR offset -12
	put16(d, 256+84, 0x0100) // T slope 1.0
	put16(d, 256+86, 256)    // T offset +1 degC
	put16(d, 256+88, 0x0100) // V slope 1.0
	put16(d, 256+90, 0xFE0C) // V offset -500
	var got sflow.SFP
	if !decodeModule(d, 9, &got) {
		t.Fatal("not decoded")
	}
	want := sflow.SFP{
		ModuleID: 9, ModuleTotalLanes: 1,
		ModuleSupplyVoltage: 3250,  // (33000 - 500) / 10
		ModuleTemperature:   31500, // 30.5 + 1
		Lanes: []sflow.SFPLane{{
			Index:         1,
			TxBiasCurrent: 12200, // (2*3000 + 100) * 2
			TxPower:       751,   // (1.5*5012 - 12) / 10 = 750.6
			TxPowerMin:    149,   // (1.5*1000 - 12) / 10 = 148.8
			TxPowerMax:    1887,  // (1.5*12590 - 12) / 10 = 1887.3
			TxWavelength:  1310,
			RxPower:       805,  // (50 + 2*4000) / 10
			RxPowerMin:    25,   // (50 + 2*100) / 10
			RxPowerMax:    4005, // (50 + 2*20000) / 10
			RxWavelength:  1310,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("externally calibrated (-want +got):\n%s", diff)
	}
}

func TestDecodeSFF8472NotDecoded(t *testing.T) {
	var got sflow.SFP
	noDDM := sff8472Fixture()
	noDDM[92] = 0
	if decodeModule(noDDM, 1, &got) {
		t.Error("decoded a module without diagnostics")
	}
	if decodeModule(sff8472Fixture()[:256], 1, &got) {
		t.Error("decoded an SFF-8079 (A0h only) image")
	}
	cable := sff8472Fixture()
	cable[8] = 0x04 // passive copper cable: bytes 60-61 are not a wavelength
	if !decodeModule(cable, 1, &got) || got.Lanes[0].TxWavelength != 0 {
		t.Errorf("copper cable: wavelength %d, want 0", got.Lanes[0].TxWavelength)
	}
}

// sff8636Fixture is a 100GBASE-LR4 QSFP28; with page3 it is the 640-byte
// image of a paged module (pages 00h-03h), else the 256-byte one.
func sff8636Fixture(page3 bool) []byte {
	n := 256
	if page3 {
		n = 640
	}
	d := make([]byte, n)
	d[0] = 0x11          // identifier: QSFP28
	d[1] = 0x07          // revision compliance
	d[2] = 0x00          // status: paged memory (Flat_mem 0)
	put16(d, 22, 0x2300) // temperature 35.0 degC
	put16(d, 26, 32900)  // Vcc, 100 uV
	for i, v := range []uint16{4000, 4100, 4200, 0} {
		put16(d, 34+2*i, v) // Rx power lanes 1-4, 0.1 uW (lane 4 dark)
	}
	for i, v := range []uint16{3500, 3600, 3700, 3800} {
		put16(d, 42+2*i, v) // Tx bias lanes 1-4, 2 uA
	}
	for i, v := range []uint16{5000, 5100, 5200, 5300} {
		put16(d, 50+2*i, v) // Tx power lanes 1-4, 0.1 uW
	}
	d[128] = 0x11        // page 00h identifier
	d[147] = 0x40        // transmitter technology: 1310 nm DFB
	put16(d, 186, 26200) // wavelength, 0.05 nm: 1310 nm
	d[220] = 0x08 | 0x04 // rx power is average power; tx power measured
	if page3 {
		p3 := 384
		put16(d, p3+176, 20000) // Rx power high alarm
		put16(d, p3+178, 200)   // Rx power low alarm
		put16(d, p3+192, 25000) // Tx power high alarm
		put16(d, p3+194, 300)   // Tx power low alarm
	}
	return d
}

func sff8636Want(ifIndex uint32, page3 bool) *sflow.SFP {
	var rxMin, rxMax, txMin, txMax uint32
	if page3 {
		rxMin, rxMax, txMin, txMax = 20, 2000, 30, 2500
	}
	want := &sflow.SFP{ModuleID: ifIndex, ModuleTotalLanes: 4, ModuleSupplyVoltage: 3290, ModuleTemperature: 35000}
	rx := []uint32{400, 410, 420, 0}
	for i := range 4 {
		want.Lanes = append(want.Lanes, sflow.SFPLane{
			Index: uint32(i + 1), TxBiasCurrent: 7000 + 200*uint32(i), TxPower: 500 + 10*uint32(i),
			TxPowerMin: txMin, TxPowerMax: txMax, TxWavelength: 1310,
			RxPower: rx[i], RxPowerMin: rxMin, RxPowerMax: rxMax, RxWavelength: 1310,
		})
	}
	return want
}

func TestDecodeSFF8636(t *testing.T) {
	for _, page3 := range []bool{true, false} {
		var got sflow.SFP
		if !decodeModule(sff8636Fixture(page3), 5, &got) {
			t.Fatalf("page3=%v: not decoded", page3)
		}
		if diff := cmp.Diff(sff8636Want(5, page3), &got); diff != "" {
			t.Errorf("page3=%v (-want +got):\n%s", page3, diff)
		}
	}

	// A flat-memory module has no page 03h even in a 640-byte image.
	flat := sff8636Fixture(true)
	flat[2] = 0x04
	var got sflow.SFP
	decodeModule(flat, 5, &got)
	if got.Lanes[0].RxPowerMax != 0 {
		t.Errorf("flat memory: thresholds read from a page that is not there")
	}

	// No tx power measurement: tx power and its thresholds stay 0.
	noTx := sff8636Fixture(true)
	noTx[220] = 0x08
	decodeModule(noTx, 5, &got)
	if l := got.Lanes[1]; l.TxPower != 0 || l.TxPowerMax != 0 || l.RxPower != 410 {
		t.Errorf("tx power not measured: lane %+v", l)
	}

	// Wavelength from the technology code when bytes 186-187 are 0.
	vcsel := sff8636Fixture(false)
	vcsel[147] = 0x00
	put16(vcsel, 186, 0)
	decodeModule(vcsel, 5, &got)
	if got.Lanes[0].TxWavelength != 850 {
		t.Errorf("850 nm VCSEL: wavelength %d", got.Lanes[0].TxWavelength)
	}

	// Active copper cable with diagnostics: no wavelength.
	aoc := sff8636Fixture(false)
	aoc[147] = 0xF0
	decodeModule(aoc, 5, &got)
	if got.Lanes[0].TxWavelength != 0 {
		t.Errorf("copper: wavelength %d", got.Lanes[0].TxWavelength)
	}

	// A passive DAC has no diagnostics (temperature 0): no record.
	dac := sff8636Fixture(false)
	dac[147] = 0xA0
	put16(dac, 22, 0)
	if decodeModule(dac, 5, &got) {
		t.Error("decoded a passive DAC")
	}
}

func TestDecodeModuleOther(t *testing.T) {
	var got sflow.SFP
	for name, d := range map[string][]byte{
		"empty":    nil,
		"QSFP-DD":  append([]byte{0x18}, make([]byte, 255)...),
		"short":    {0x0D, 0, 0},
		"GBIC":     append([]byte{0x01}, make([]byte, 511)...),
		"SFP only": sff8472Fixture()[:300],
	} {
		if decodeModule(d, 1, &got) {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestDecodeReusesLanes(t *testing.T) {
	var s sflow.SFP
	d := sff8636Fixture(true)
	decodeModule(d, 5, &s)
	allocs := testing.AllocsPerRun(100, func() { decodeModule(d, 5, &s) })
	if allocs != 0 {
		t.Errorf("decode allocates %.1f times, want 0", allocs)
	}
}
