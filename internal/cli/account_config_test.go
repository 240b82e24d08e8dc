package cli

import (
	"strings"
	"testing"
	"time"
)

// TestLoadConfigAccountSettings: REAUTH_TIMEOUT and EMAIL_VERIFICATION
// have their defaults, take valid values and refuse bad ones by name.
func TestLoadConfigAccountSettings(t *testing.T) {
	c, err := loadServeConfig(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.NewDeviceNotice {
		t.Fatal("NEW_DEVICE_NOTICE: want it on by default")
	}
	if c, err := loadServeConfig(envMap(map[string]string{"NEW_DEVICE_NOTICE": "off"})); err != nil || c.NewDeviceNotice {
		t.Fatalf("NEW_DEVICE_NOTICE=off: got %t, %v", c.NewDeviceNotice, err)
	}
	if c.ReauthTimeout != 10*time.Minute || c.EmailVerification != "optional" {
		t.Fatalf("defaults: got %s, %q; want 10m, optional", c.ReauthTimeout, c.EmailVerification)
	}
	c, err = loadServeConfig(envMap(map[string]string{"REAUTH_TIMEOUT": "90s", "EMAIL_VERIFICATION": "Mandatory"}))
	if err != nil || c.ReauthTimeout != 90*time.Second || c.EmailVerification != "mandatory" {
		t.Fatalf("got %s, %q, %v; want 90s, mandatory", c.ReauthTimeout, c.EmailVerification, err)
	}
	for k, v := range map[string]string{"REAUTH_TIMEOUT": "soon", "EMAIL_VERIFICATION": "sometimes", "NEW_DEVICE_NOTICE": "maybe",
		"MAX_PASSKEYS": "0"} {
		if _, err := loadServeConfig(envMap(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: got %v, want an error naming %s", k, v, err, k)
		}
	}
	for _, bad := range []string{"-1", "101", "lots", "1e3"} {
		if _, err := loadServeConfig(envMap(map[string]string{"MAX_PASSKEYS": bad})); err == nil || !strings.Contains(err.Error(), "MAX_PASSKEYS") {
			t.Errorf("MAX_PASSKEYS=%q: got %v, want an error naming it", bad, err)
		}
	}
	if c, err := loadServeConfig(envMap(map[string]string{"MAX_PASSKEYS": "3"})); err != nil || c.MaxPasskeys != 3 {
		t.Errorf("MAX_PASSKEYS=3: got %d, %v", c.MaxPasskeys, err)
	}
}
