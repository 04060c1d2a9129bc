# Regenerates the golden files with Python's xmlrpc.client, the library
# supervisorctl and supervisord use:  python3 gen.py
import datetime
import xmlrpc.client as x

def write(name, data):
    with open(name, "w", encoding="utf-8", newline="") as f:
        f.write(data)

write("call_start.xml", x.dumps(("manual",), "supervisor.startProcess"))
write("call_tail.xml", x.dumps(("web", -1600, 0), "supervisor.readProcessStdoutLog"))
write("call_noparams.xml", x.dumps((), "supervisor.getAllProcessInfo"))
write("call_types.xml", x.dumps((True, 1.5, "a<b&c>", b"\x00\x01binary" * 10, [1, "two"],
                                 {"k": None}, x.DateTime(datetime.datetime(2026, 11, 25, 3, 35, 20))),
                                "system.multicall", allow_none=True))
write("response_string.xml", x.dumps(("3.0",), methodresponse=True))
write("response_bool.xml", x.dumps((True,), methodresponse=True))
write("response_info.xml", x.dumps(([{
    "name": "web", "group": "web", "start": 1764041720, "stop": 0, "now": 1764041780,
    "state": 20, "statename": "RUNNING", "spawnerr": "", "exitstatus": 0,
    "logfile": "/var/log/web.log", "stdout_logfile": "/var/log/web.log",
    "stderr_logfile": "", "pid": 4242, "description": "pid 4242, uptime 0:01:00"}],),
    methodresponse=True))
write("response_fault.xml", x.dumps(x.Fault(10, "BAD_NAME: nosuch"), methodresponse=True))
