package dialect

import (
	"net"
	"strings"
)

// macAddress reads a MAC address a miner reports: an EUI-48 in colon, hyphen or dot notation or
// as twelve bare hex digits (Avalon's "e0e1a93f3053"), written lower-case with colons. Anything
// else, and the all-zero and broadcast addresses firmware writes when it has none, give "".
func macAddress(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 17 { // the longest notation of six bytes ("aa:bb:cc:dd:ee:ff")
		return ""
	}
	if len(s) == 12 && isHex(s) {
		s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return ""
	}
	zero, bcast := true, true
	for _, b := range hw {
		zero = zero && b == 0
		bcast = bcast && b == 0xff
	}
	if zero || bcast {
		return ""
	}
	return hw.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// maxSerial bounds a serial number or hardware ID: the longest seen (Canaan's DNA on the Avalon
// Q) has 32 characters.
const maxSerial = 64

// serialNumber reads a serial number or unique hardware ID a miner reports: 4 to 64 letters,
// digits, '-', '_' or '.', not a placeholder ("unknow", "N/A", all zeros). Anything else gives ""
// (an anonymised "<DELETED>" too).
func serialNumber(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 4 || len(s) > maxSerial {
		return ""
	}
	zeros := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return ""
		}
		zeros = zeros && (c == '0' || c == '-' || c == '.')
	}
	switch strings.ToLower(s) {
	case "unknow", "unknown", "none", "null", "n.a.", "default":
		return ""
	}
	if zeros {
		return ""
	}
	return s
}
