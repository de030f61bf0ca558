package poller

import "syscall"

// onWine reports whether the test runs under Wine (its ntdll has
// wine_get_version).
func onWine() bool {
	return syscall.NewLazyDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
