package ovs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOVSTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gwd"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath, caPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)

	c, err := tlsConfig(SSLOptions{PrivateKey: keyPath, Certificate: certPath, CACert: caPath})
	if err != nil || len(c.Certificates) != 1 || c.RootCAs == nil {
		t.Fatalf("good files: %v %+v", err, c)
	}
	if _, err := tlsConfig(SSLOptions{PrivateKey: keyPath, Certificate: filepath.Join(dir, "nope.pem")}); err == nil || !strings.Contains(err.Error(), "modules.ovs.ssl") {
		t.Errorf("missing certificate: %v", err)
	}
	os.WriteFile(caPath, []byte("not a certificate"), 0o600)
	if _, err := tlsConfig(SSLOptions{CACert: caPath}); err == nil || !strings.Contains(err.Error(), "ca_cert") {
		t.Errorf("bad CA file: %v", err)
	}
}
