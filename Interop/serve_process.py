"""`switchboard serve` on loopback for an interop script: free ports, an admin token of its own, the readiness lines
read back into {listener name: port}."""
import subprocess, sys, time

ADMIN_TOKEN = "interop-admin-token-0123456789"


def start(binary, *arguments):
    proc = subprocess.Popen(
        [binary, "serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0",
         "--admin-token", ADMIN_TOKEN, "--allow-peer", "127.0.0.0/8", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ports = {}
    deadline = time.time() + 20
    # `admin` is the last readiness line.
    while "admin" not in ports and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        name, _, address = line.strip().rpartition(" ")
        ports[name] = int(address.rsplit(":", 1)[1])
    if "admin" not in ports:
        proc.kill()
        sys.exit("the server did not print its admin readiness line")
    return proc, ports
