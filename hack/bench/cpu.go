package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// cpuSample is the CPU time used so far by this process, by its children
// (kube-apiserver, etcd, the manager) and by the whole machine.
type cpuSample struct {
	at          time.Time
	byProcess   map[string]float64 // seconds, by command name
	machineBusy float64            // seconds, all cores
}

// cpuSeconds is the CPU time (user+system) pid has used, in seconds.
func cpuSeconds(pid int) (float64, bool) {
	_, _, secs, ok := procStat(pid)
	return secs, ok
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), byProcess: map[string]float64{}}
	self := os.Getpid()
	if name, _, secs, ok := procStat(self); ok {
		s.byProcess[name] += secs
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if name, ppid, secs, ok := procStat(pid); ok && ppid == self {
			s.byProcess[name] += secs
		}
	}
	s.machineBusy = machineBusySeconds()
	return s
}

// procStat reads the command name, parent and CPU seconds (user+system)
// of pid from /proc/<pid>/stat.
func procStat(pid int) (string, int, float64, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	text := string(data)
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	name := text[open+1 : closing]
	// After the name: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	fields := strings.Fields(text[closing+1:])
	if len(fields) < 13 {
		return "", 0, 0, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return name, ppid, (utime + stime) / clockTicks, true
}

// machineBusySeconds is the non-idle CPU time of all cores, from /proc/stat.
func machineBusySeconds() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, f := range fields[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		busy += v
	}
	return busy / clockTicks
}

// cpuUse is the average number of cores each process kept busy between two
// samples; Others is what the rest of the machine used meanwhile.
type cpuUse struct {
	ByProcess    map[string]float64 `json:"cores_by_process"`
	MachineCores float64            `json:"machine_busy_cores"`
	OtherCores   float64            `json:"other_processes_cores"`
}

func (a cpuSample) until(b cpuSample) cpuUse {
	wall := b.at.Sub(a.at).Seconds()
	use := cpuUse{ByProcess: map[string]float64{}}
	if wall <= 0 {
		return use
	}
	ours := 0.0
	for name, secs := range b.byProcess {
		// A process that started between the samples counts from zero.
		d := max(secs-a.byProcess[name], 0)
		use.ByProcess[name] = d / wall
		ours += d
	}
	use.MachineCores = (b.machineBusy - a.machineBusy) / wall
	use.OtherCores = max(use.MachineCores-ours/wall, 0)
	return use
}
