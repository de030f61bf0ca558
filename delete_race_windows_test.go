package poller

// badSubmits is the cores' count of polls submitted for a state Go had
// deleted or retired (iocp_bad_submits): 0 unless a bug.
func badSubmits() int64 { return coreBadSubmits() }
