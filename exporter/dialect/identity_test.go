package dialect

import (
	"strings"
	"testing"
)

func TestMACAddress(t *testing.T) {
	for in, want := range map[string]string{
		"C4:08:28:00:A4:19":         "c4:08:28:00:a4:19", // Whatsminer summary
		"e0e1a93f3053":              "e0:e1:a9:3f:30:53", // Avalon version, bare hex
		" AA-BB-CC-DD-EE-FF ":       "aa:bb:cc:dd:ee:ff",
		"aabb.ccdd.eeff":            "aa:bb:cc:dd:ee:ff",
		"00:00:00:00:00:00":         "",
		"ff:ff:ff:ff:ff:ff":         "",
		"000000000000":              "",
		"02:00:5e:10:00:00:00:01":   "", // EUI-64 is no Ethernet MAC
		"c4:08:28:00:a4":            "",
		"c4:08:28:00:a4:1g":         "",
		"<DELETED>":                 "",
		"":                          "",
		strings.Repeat("a", 100000): "",
		"c4:08:28:00:a4:19\x00":     "",
	} {
		if got := macAddress(in); got != want {
			t.Errorf("macAddress(%.40q) = %q, want %q", in, got, want)
		}
	}
}

func TestSerialNumber(t *testing.T) {
	for in, want := range map[string]string{
		"020100003cbe4d15":                 "020100003cbe4d15", // Avalon DNA
		"01234567890123456789012345678901": "01234567890123456789012345678901",
		"JYZZYRSBDJEBI06ZR":                "JYZZYRSBDJEBI06ZR",
		" HTM3X-21.08_ab ":                 "HTM3X-21.08_ab",
		"unknow":                           "",
		"Unknown":                          "",
		"N/A":                              "",
		"0000000000000000":                 "",
		"<DELETED>":                        "",
		"abc":                              "",
		"a b c d":                          "",
		"serial\x00\x01":                   "",
		"\u00e9\u00e9\u00e9\u00e9":         "",
		strings.Repeat("7", 65):            "",
	} {
		if got := serialNumber(in); got != want {
			t.Errorf("serialNumber(%.40q) = %q, want %q", in, got, want)
		}
	}
}
