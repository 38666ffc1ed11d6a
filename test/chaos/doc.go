// Package chaos runs the built manager against a real API server (envtest)
// and the Bitrise API fake while things go wrong: a flaky API, lost create
// responses, SIGKILLs mid-burst, concurrent writers, persistent errors and a
// leader handover. Each scenario ends by checking invariants rather than
// timings: every resource Ready, exactly one remote webhook per resource,
// no orphans, no leftovers, and no secret value anywhere it could be read.
//
// CHAOS_DUMP_DIR=dir writes each scenario's manager output and the requests
// the fake saw into dir. CHAOS_KNOWN_BUGS=1 runs the scenarios that
// reproduce operator bugs not fixed yet (skipped otherwise).
package chaos
