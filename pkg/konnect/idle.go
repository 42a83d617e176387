package konnect

import "time"

// IdleShare is the share of --konnect-qps each kind of re-sync read may use while nothing
// changes: the control-plane listings and the groups' member reads one share, the certificate
// look-ups another. Together an
// idle controller's reads stay within 5 % of --konnect-qps, whatever the number of objects.
const IdleShare = 0.025

// ResyncInterval is how often each of n re-sync reads comes round: every period, or less often
// when n reads a period would take more than IdleShare of qps (qps 0: every period).
func ResyncInterval(period time.Duration, n int, qps float64) time.Duration {
	if qps <= 0 {
		return period
	}
	return max(period, time.Duration(float64(n)/(qps*IdleShare)*float64(time.Second)))
}
