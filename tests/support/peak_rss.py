"""Run a command and write its own peak RSS (kB) to a file: `python peak_rss.py OUT_FILE CMD ARGS...`.

A child's ru_maxrss (os.wait4) also counts the memory of the process that forked it, as it was at the fork: a
test process that has grown to gigabytes would make every child look that big. This small, fresh launcher forks
the command instead, so the figure is the command's own. Its exit code is the command's."""
import os
import subprocess
import sys

out, cmd = sys.argv[1], sys.argv[2:]
proc = subprocess.Popen(cmd)   # stdin, stdout and stderr are the launcher's
_, status, usage = os.wait4(proc.pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
