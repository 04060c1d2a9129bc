package main

import (
	"fmt"
	"slices"
	"strings"
)

var commands map[string]command

func init() {
	commands = map[string]command{
		"status":   {doStatus, helpStatus},
		"start":    {doStart, helpStart},
		"stop":     {doStop, helpStop},
		"restart":  {doRestart, helpRestart},
		"signal":   {doSignal, helpSignal},
		"pid":      {doPid, helpPid},
		"tail":     {doTail, helpTail},
		"fg":       {doFg, helpFg},
		"open":     {doOpen, helpOpen},
		"maintail": {doMaintail, helpMaintail},
		"clear":    {doClear, helpClear},
		"avail":    {doAvail, helpAvail},
		"reread":   {doReread, helpReread},
		"update":   {doUpdate, helpUpdate},
		"add":      {doAdd, helpAdd},
		"remove":   {doRemove, helpRemove},
		"reload":   {doReload, helpReload},
		"shutdown": {doShutdown, helpShutdown},
		"upgrade":  {doUpgrade, helpUpgrade},
		"version":  {doVersion, helpVersion},
		"help":     {doHelp, helpHelp},
		"check":    {doCheck, helpCheck},
		"run":      {doRun, helpRun},
		"export":   {doExport, helpExport},
		"convert":  {doConvert, helpConvert},
		// Run by onecmd itself, which ends the shell with them.
		"quit": {nil, func(m *Main) { m.out("quit\tExit the supervisor shell.") }},
		"exit": {nil, func(m *Main) { m.out("exit\tExit the supervisor shell.") }},
	}
}

func doHelp(m *Main, arg string) error {
	if arg != "" {
		c, ok := commands[strings.TrimSpace(arg)]
		if !ok {
			m.out("*** No help on " + arg)
			return nil
		}
		c.help(m)
		return nil
	}
	m.out("")
	m.out("default commands (type help <topic>):")
	m.out("=====================================")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	// Columns filled top to bottom, as Python's cmd module prints them.
	rows := (len(names) + 6) / 7
	for r := range rows {
		var line strings.Builder
		for c := 0; c*rows+r < len(names); c++ {
			col := names[c*rows : min((c+1)*rows, len(names))]
			width := 0
			for _, n := range col {
				width = max(width, len(n))
			}
			fmt.Fprintf(&line, "%-*s  ", width, names[c*rows+r])
		}
		m.out(strings.TrimRight(line.String(), " "))
	}
	m.out("")
	return nil
}

func helpHelp(m *Main) {
	m.out("help\t\tPrint a list of available actions")
	m.out("help <action>\tPrint help for <action>")
}

func helpStatus(m *Main) {
	m.out("status <name>\t\tGet status for a single process")
	m.out("status <gname>:*\tGet status for all processes in a group")
	m.out("status <name> <name>\tGet status for multiple named processes")
	m.out("status\t\t\tGet all process status info")
	m.out("status --json\t\tThe same as a JSON array (ctlsup)")
}

func helpStart(m *Main) {
	m.out("start <name>\t\tStart a process")
	m.out("start <gname>:*\t\tStart all processes in a group")
	m.out("start <name> <name>\tStart multiple processes or groups")
	m.out("start all\t\tStart all processes")
}

func helpStop(m *Main) {
	m.out("stop <name>\t\tStop a process")
	m.out("stop <gname>:*\t\tStop all processes in a group")
	m.out("stop <name> <name>\tStop multiple processes or groups")
	m.out("stop all\t\tStop all processes")
}

func helpRestart(m *Main) {
	m.out("restart <name>\t\tRestart a process")
	m.out("restart <gname>:*\tRestart all processes in a group")
	m.out("restart <name> <name>\tRestart multiple processes or groups")
	m.out("restart all\t\tRestart all processes")
	m.out("restart --rolling [--batch N] <gname>\tRestart a group's processes N at a time (default 1),")
	m.out("\t\t\teach batch RUNNING (ready) before the next stops")
	m.out("Note: restart does not reread config files. For that, see reread and update.")
}

func helpSignal(m *Main) {
	m.out("signal <signal name> <name>\t\tSignal a process")
	m.out("signal <signal name> <gname>:*\t\tSignal all processes in a group")
	m.out("signal <signal name> <name> <name>\tSignal multiple processes or groups")
	m.out("signal <signal name> all\t\tSignal all processes")
}

func helpPid(m *Main) {
	m.out("pid\t\t\tGet the PID of supervisord.")
	m.out("pid <name>\t\tGet the PID of a single child process by name.")
	m.out("pid all\t\t\tGet the PID of every child process, one per line.")
}

func helpTail(m *Main) {
	m.out("tail [-f] <name> [stdout|stderr] (default stdout)\n" +
		"Ex:\n" +
		"tail -f <name>\t\tContinuous tail of named process stdout\n" +
		"\t\t\tCtrl-C to exit.\n" +
		"tail -100 <name>\tlast 100 *bytes* of process stdout\n" +
		"tail <name> stderr\tlast 1600 *bytes* of process stderr")
}

func helpMaintail(m *Main) {
	m.out("maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n" +
		"maintail -100\tlast 100 *bytes* of supervisord main log file\n" +
		"maintail\tlast 1600 *bytes* of supervisor main log file\n")
}

func helpClear(m *Main) {
	m.out("clear <name>\t\tClear a process' log files.")
	m.out("clear <name> <name>\tClear multiple process' log files")
	m.out("clear all\t\tClear all process' log files")
}

func helpAvail(m *Main) { m.out("avail\t\t\tDisplay all configured processes") }
func helpReread(m *Main) {
	m.out("reread \t\t\tReload the daemon's configuration files without add/remove")
}
func helpAdd(m *Main)    { m.out("add <name> [...]\tActivates any updates in config for process/group") }
func helpRemove(m *Main) { m.out("remove <name> [...]\tRemoves process/group from active config") }
func helpReload(m *Main) { m.out("reload \t\tRestart the remote supervisord.") }
func helpUpgrade(m *Main) {
	m.out("upgrade \tRe-execute ctlsupd's binary on disk in place: every program keeps")
	m.out("\t\trunning with its pid, its pipes and its logs.")
}
func helpShutdown(m *Main) {
	m.out("shutdown \tShut the remote supervisord down.")
}
func helpVersion(m *Main) { m.out("version\t\t\tShow the version of the remote supervisord process") }
func helpCheck(m *Main) {
	m.out("check\t\t\tValidate the ctlsupd configuration (-c FILE) and list its processes")
}

func helpUpdate(m *Main) {
	m.out("update\t\t\tReload config and add/remove as necessary, and will restart affected programs")
	m.out("update all\t\tReload config and add/remove as necessary, and will restart affected programs")
	m.out("update <gname> [...]\tUpdate specific groups")
}

func helpRun(m *Main) {
	m.out("run [-f Procfile] [-e .env[,more.env]] [-m web=2,worker=1] [-p 5000] [--keep-going] [--timestamps] [TYPE ...]")
	m.out("\t\t\tRun a Procfile in the foreground (Ctrl-C stops it)")
}

func helpExport(m *Main) {
	m.out("export toml [-f Procfile] [-e .env] [-m formation] [-p port] [--instance NAME] [--log-dir DIR] [TYPE ...]")
	m.out("\t\t\tWrite the conf.d TOML a server would use for a Procfile")
}

func helpConvert(m *Main) {
	m.out("convert [-o DIR [-force]] supervisord.conf [conf.d/*.conf ...]")
	m.out("\t\t\tWrite ctlsup TOML from supervisord INI; exit 3 if settings were left out")
	m.out("\t\t\t(-force: replace files in DIR edited since convert wrote them)")
}
