# An event listener written as supervisord's users write them, with
# supervisor's own childutils: it records every event it gets into the
# file named by argv[1] (event name, pool serial, payload with pids
# masked), answers OK, and on PROCESS_STATE_FATAL asks the daemon to shut
# down, as Docker images' "exit when a program fails" listeners do.
import os
import re
import sys
from supervisor import childutils

out = sys.argv[1]
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    name = headers["eventname"]
    masked = re.sub(r"pid:\d+", "pid:N", payload)
    with open(out, "a") as f:
        f.write("%s poolserial:%s %s\n" % (name, headers["poolserial"], masked.replace("\n", "\\n")))
    if name == "PROCESS_STATE_FATAL" and "processname:failing" in payload and os.environ.get("QUIT_ON_FATAL"):
        childutils.getRPCInterface(os.environ).supervisor.shutdown()
    childutils.listener.ok(sys.stdout)
