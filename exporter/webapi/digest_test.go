package webapi

import (
	"strings"
	"testing"
)

// The request-digests of RFC 7616 §3.9.1 (MD5 and SHA-256) and RFC 2617 §3.5: the formula is
// held to the published values, not to a server written with the same code.
func TestDigestRFCVectors(t *testing.T) {
	tests := []struct {
		name, header, user, password, uri, cnonce, want string
	}{
		{"RFC 7616 MD5",
			`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			"Mufasa", "Circle of Life", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 SHA-256",
			`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			"Mufasa", "Circle of Life", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 2617",
			`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
			"Mufasa", "Circle Of Life", "/dir/index.html", "0a4f113b", "6629fae49393a05397450978507c4ef1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := parseChallenges([]string{tc.header})
			if err != nil {
				t.Fatal(err)
			}
			if got := ch.response(tc.user, tc.password, "GET", tc.uri, 1, tc.cnonce); got != tc.want {
				t.Errorf("response %s, want %s", got, tc.want)
			}
			auth := ch.authorization(tc.user, tc.password, "GET", tc.uri, 1, tc.cnonce)
			for _, part := range []string{`username="Mufasa"`, `response="` + tc.want + `"`, "qop=auth", "nc=00000001", `cnonce="` + tc.cnonce + `"`, "opaque="} {
				if !strings.Contains(auth, part) {
					t.Errorf("Authorization lacks %s: %s", part, auth)
				}
			}
		})
	}
}

// The strongest challenge a server offers is chosen; what cannot be answered is passed over,
// and a hostile header yields no challenge rather than a crash or a long loop.
func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		alg     string // "" no challenge
		qop     string
	}{
		{"lighttpd (Bitmain)", []string{`Digest realm="antMiner Configuration", charset="UTF-8", nonce="abc", qop="auth", algorithm="MD5"`}, "MD5", "auth"},
		{"SHA-256 preferred in one header", []string{`Digest realm="r", nonce="n1", algorithm=MD5, qop="auth", Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`}, "SHA-256", "auth"},
		{"SHA-256 preferred across headers", []string{`Digest realm="r", nonce="n1", qop="auth"`, `Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`}, "SHA-256", "auth"},
		{"Basic then Digest", []string{`Basic realm="r", Digest realm="r", nonce="n", qop=auth`}, "MD5", "auth"},
		{"token68 before", []string{`Negotiate abc==, Digest realm="r", nonce="n", qop=auth`}, "MD5", "auth"},
		{"RFC 2069 (no qop)", []string{`Digest realm="r", nonce="n"`}, "MD5", ""},
		{"MD5-sess", []string{`Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"`}, "MD5-sess", "auth"},
		{"-sess without qop", []string{`Digest realm="r", nonce="n", algorithm=MD5-sess`}, "", ""},
		{"auth-int only", []string{`Digest realm="r", nonce="n", qop="auth-int"`}, "", ""},
		{"SHA-512-256 only", []string{`Digest realm="r", nonce="n", algorithm=SHA-512-256, qop=auth`}, "", ""},
		{"no nonce", []string{`Digest realm="r", qop=auth`}, "", ""},
		{"Basic only", []string{`Basic realm="r"`}, "", ""},
		{"unterminated quote", []string{`Digest realm="r, nonce="n`}, "", ""},
		{"CR in a nonce", []string{"Digest realm=\"r\", nonce=\"a\rb\", qop=auth"}, "", ""},
		{"too long", []string{`Digest realm="` + strings.Repeat("x", maxChallengeBytes) + `", nonce="n", qop=auth`}, "", ""},
		{"param too long", []string{`Digest nonce="` + strings.Repeat("x", maxParamBytes+1) + `", qop=auth`}, "", ""},
		{"junk", []string{"=,=,\"\\", ",,,,", "Digest ==== nonce"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := parseChallenges(tc.headers)
			if tc.alg == "" {
				if err == nil {
					t.Fatalf("answered %+v", ch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.algorithm != tc.alg || ch.qop != tc.qop {
				t.Errorf("chose %s qop %q, want %s %q", ch.algorithm, ch.qop, tc.alg, tc.qop)
			}
		})
	}
}

// A realm or nonce holding quotes is written back escaped, so it cannot end the value early.
func TestAuthorizationQuoting(t *testing.T) {
	ch, err := parseChallenges([]string{`Digest realm="a\"b\\c", nonce="n\"x", qop=auth`})
	if err != nil {
		t.Fatal(err)
	}
	auth := ch.authorization("root", "pw", "GET", "/cgi-bin/summary.cgi", 1, "c")
	if !strings.Contains(auth, `realm="a\"b\\c"`) || !strings.Contains(auth, `nonce="n\"x"`) {
		t.Errorf("quoting: %s", auth)
	}
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Digest realm="antMiner Configuration", charset="UTF-8", nonce="abc", qop="auth", algorithm="MD5"`)
	f.Add(`Basic realm="r", Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth,auth-int", opaque="o", userhash=true, stale=TRUE`)
	f.Add(`Negotiate abc==, Digest realm="a\"b", nonce=n`)
	f.Fuzz(func(t *testing.T, h string) {
		ch, err := parseChallenges([]string{h, h})
		if err != nil {
			return
		}
		if ch.nonce == "" || ch.newHash == nil || len(ch.nonce) > maxParamBytes || len(ch.realm) > maxParamBytes {
			t.Fatalf("accepted %+v", ch)
		}
		auth := ch.authorization("root", "pw", "GET", "/cgi-bin/summary.cgi", 1, "c")
		if strings.ContainsAny(auth, "\r\n\x00") {
			t.Fatalf("a header that splits: %q", auth)
		}
	})
}
