# Calls a daemon's XML-RPC interface as Python tools do (xmlrpc.client over
# supervisor's unix-socket transport) and prints what comes back, one line
# per call, for the differential suite. argv[1] is the server URL.
import sys
import xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport

url = sys.argv[1]
proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, url))


def show(label, fn):
    try:
        v = fn()
        print(label, "->", type(v).__name__, repr(v) if not isinstance(v, str) or len(v) < 60 else "str")
    except xmlrpc.client.Fault as f:
        print(label, "-> fault", f.faultCode, f.faultString)


s = proxy.supervisor
show("getState('x')", lambda: s.getState("x"))
show("getPID('x')", lambda: s.getPID("x") > 0)
show("clearLog('x')", lambda: s.clearLog("x"))
show("shutdown('x')", lambda: s.shutdown("x"))
show("restart('x')", lambda: s.restart("x"))
show("reloadConfig('x')", lambda: s.reloadConfig("x"))
show("getProcessInfo()", lambda: s.getProcessInfo())
show("getProcessInfo('a','b')", lambda: s.getProcessInfo("a", "b"))
show("getProcessInfo('')", lambda: s.getProcessInfo(""))
show("stopProcess('')", lambda: s.stopProcess(""))
show("sendProcessStdin('sleeper',5)", lambda: s.sendProcessStdin("sleeper", 5))
show("sendProcessStdin('sleeper',True)", lambda: s.sendProcessStdin("sleeper", True))
show("startProcess()", lambda: s.startProcess())
show("startProcess('manual',True,1)", lambda: s.startProcess("manual", True, 1))
show("stopAllProcesses(True,1)", lambda: s.stopAllProcesses(True, 1))
show("signalProcess('sleeper')", lambda: s.signalProcess("sleeper"))
show("readLog(0)", lambda: s.readLog(0))
show("tailProcessStdoutLog('chatty',0)", lambda: s.tailProcessStdoutLog("chatty", 0))
for off, n in ((0, -5), (-5, 10), (0, 0), (-1, -1), (1 << 30, 10), (1 << 30, -(1 << 30)), (100, -99)):
    # The flags, not the bytes: the two daemons' logs differ in length.
    show("tailProcessStdoutLog('chatty',%d,%d)" % (off, n),
         lambda: [len(v[0]) > 0, v[1] > 0, v[2]] if (v := s.tailProcessStdoutLog("chatty", off, n)) else v)
show("system.listMethods('x')", lambda: proxy.system.listMethods("x"))
show("system.methodHelp()", lambda: proxy.system.methodHelp())
for name in sorted(proxy.system.listMethods()):
    if name.startswith("ctlsup."):
        continue
    show("methodSignature " + name, lambda: proxy.system.methodSignature(name))
    help = proxy.system.methodHelp(name)
    print("methodHelp", name, "params", help.count("@param"), "returns", help.count("@return"))
