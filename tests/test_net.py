"""vmsight net — every socket and its holders — against the guest's own
/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,packet} and /proc/PID/fd.

The test starts known processes in the guest (busybox httpd on 127.0.0.1
and [::1], busybox nc listening on :: and connected over IPv4 (dual stack)
and IPv6, a TIME_WAIT left by wget, syslogd's /dev/log and its UDP
sockets to 127.0.0.1 and [::1], klogd connected to /dev/log, udhcpd's UDP
listener, ping's raw socket, udhcpc's packet socket), then takes the
guest's own listing (its /proc/net files parsed here from their hex, and
every socket:[INODE] link under /proc/PID/fd) right before and right after
vmsight looks at the paused guest. A socket in both listings must be in
vmsight's with the same protocol, addresses, ports, state and inode, held
by exactly the (pid, fd) pairs /proc shows (pid null when none).
"""

import ipaddress
import re
import struct

import labvm

SETUP = r"""
ip link set lo up
mkdir -p /tmp/www; echo hello > /tmp/www/index.html
printf 'interface lo\nstart 127.0.0.10\nend 127.0.0.20\n' > /tmp/vms-udhcpd.conf
: > /tmp/vms-net.pids
# Under load a fixed sleep is not enough: wait for what /proc/net shows.
listening() { grep -qi ":$(printf %04X $1) [0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6; }
connected() { grep -qi ":$(printf %04X $1) 01 " /proc/net/tcp /proc/net/tcp6; }
wait_for() { i=0; while ! "$@"; do i=$((i+1)); [ $i -lt 300 ] || return 1; usleep 100000; done; }
bg() { "$@" </dev/null >/dev/null 2>&1 & echo $! >> /tmp/vms-net.pids; }
pipe() { (sleep 100000 | "$@" >/dev/null 2>&1 & echo $! >> /tmp/vms-net.pids; wait) & }
httpd -f -p 127.0.0.1:18080 -h /tmp/www </dev/null >/dev/null 2>&1 & echo $! >> /tmp/vms-net.pids
httpd -f -p [::1]:18081 -h /tmp/www </dev/null >/dev/null 2>&1 & echo $! >> /tmp/vms-net.pids
pipe nc -l -p 19003
pipe nc -l -p 19004
pipe nc -l -p 19000
for p in 18080 18081 19003 19004 19000; do wait_for listening $p || echo "no listener on $p"; done
pipe nc ::1 19004
pipe nc 127.0.0.1 19000
wait_for connected 19004 || echo "no connection to 19004"
wait_for connected 19000 || echo "no connection to 19000"
bg udhcpd -f /tmp/vms-udhcpd.conf
bg ping -i 100 127.0.0.1
bg udhcpc -i lo -f -q -n -t 100000 -T 100
if ! pidof syslogd >/dev/null; then
	bg syslogd -n -R 127.0.0.1:514 -R [::1]:514 -L -O /tmp/vms-syslog.txt
	sleep 1
	bg klogd -n
fi
sleep 1
logger vms-net-test
wget -q -O /dev/null http://127.0.0.1:18080/ || echo "wget failed"
# TIME_WAIT stays with whichever side closed first: httpd's (local port
# 18080) or, under load, wget's (remote port 18080).
wait_for grep -qE ":46A0 ([0-9A-F]+:[0-9A-F]+ )?06 " /proc/net/tcp || echo "no TIME_WAIT"
echo ready
"""

STOP = r"""
for p in $(cat /tmp/vms-net.pids 2>/dev/null); do kill $p 2>/dev/null; done
for p in $(pidof nc sleep udhcpd udhcpc ping httpd klogd syslogd); do
	case "$(cat /proc/$p/cmdline 2>/dev/null | tr '\000' ' ')" in
	*1908*|*1800*|*100000*|*vms-udhcpd*|*"ping -i 100"*|*"udhcpc -i lo"*|*vms-syslog*|"klogd -n ") kill $p 2>/dev/null ;;
	esac
done
true
"""

# The guest's own view: the /proc/net tables, then each socket descriptor.
LISTING = r"""
for f in tcp tcp6 udp udp6 raw raw6 unix packet; do
	echo "== $f"; cat /proc/net/$f
done
echo "== fds"
for d in /proc/[0-9]*; do
	p=${d#/proc/}
	read -r comm < $d/comm 2>/dev/null || continue
	for l in $d/fd/*; do
		t=$(readlink $l 2>/dev/null) || continue
		case "$t" in socket:*) echo "fd $p ${l##*/} $t $comm" ;; esac
	done
done
echo "== end"
"""

TCP_STATES = ["?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
              "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]


def hex_addr(h):
    """/proc/net's address: 32-bit words printed in the guest's (little-endian) order."""
    raw = bytes.fromhex(h)
    words = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def parse_listing(text):
    """-> (sockets: {key: dict}, holders: {inode: {(pid, fd)}}, comms: {pid: comm})."""
    socks, holders, comms, section = {}, {}, {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            section = line[3:].strip()
            continue
        f = line.split()
        if section in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6") and f and f[0].endswith(":") and f[0] != "sl":
            la, lp = f[1].split(":")
            ra, rp = f[2].split(":")
            st = int(f[3], 16)
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            ino = int(f[9])
            s = dict(proto=section, local_addr=hex_addr(la), local_port=int(lp, 16), remote_addr=hex_addr(ra),
                     remote_port=int(rp, 16), state=TCP_STATES[st] if st < len(TCP_STATES) else str(st),
                     inode=ino, rx_queue=rx, tx_queue=tx)
            socks[key(s)] = s
        elif section == "unix" and f and f[0].endswith(":") and len(f) >= 7:
            s = dict(proto="unix", flags=int(f[3], 16), type=int(f[4], 16), st=int(f[5], 16), inode=int(f[6]),
                     path=" ".join(f[7:]))
            socks[key(s)] = s
        elif section == "packet" and f and f[0] != "sk" and len(f) >= 9:
            s = dict(proto="packet", protocol=int(f[3], 16), ifindex=int(f[4]), inode=int(f[8]))
            socks[key(s)] = s
        elif section == "fds" and f and f[0] == "fd" and len(f) >= 5:
            pid, fd, ino = int(f[1]), int(f[2]), int(re.match(r"socket:\[(\d+)\]", f[3]).group(1))
            holders.setdefault(ino, set()).add((pid, fd))
            comms[pid] = " ".join(f[4:])
    return socks, holders, comms


def key(s):
    """A socket's identity: its inode, or (TIME_WAIT, SYN_RECV: none) its addresses."""
    if s["inode"]:
        return (s["proto"], s["inode"])
    return (s["proto"], s["local_addr"], s["local_port"], s["remote_addr"], s["remote_port"])


def listing(g):
    rc, out = labvm.exec(g.dir, LISTING, timeout=60)
    assert rc == 0, out
    return parse_listing(out)


def setup(ctx, g):
    rc, out = labvm.exec(g.dir, SETUP, timeout=60)
    assert rc == 0 and "ready" in out and "no " not in out and "failed" not in out, out
    ctx.on_cleanup(lambda: labvm.exec(g.dir, STOP, timeout=30))


def ours(ctx, g, *args):
    rows = ctx.vmsight_json("-t", g.target, "net", *args)
    assert all(not r.get("unreadable") for r in rows), [r for r in rows if r.get("unreadable")]
    return rows


def check_guest(ctx, name):
    g = ctx.guest(name)
    setup(ctx, g)
    before, hold_before, comms = listing(g)
    with ctx.paused(g):
        rows = ours(ctx, g)
    after, hold_after, _ = listing(g)
    by_key = {}
    for r in rows:
        k = (r["proto"], r["inode"]) if r["inode"] else \
            (r["proto"], r["local_addr"], r["local_port"], r["remote_addr"], r["remote_port"])
        by_key.setdefault(k, []).append(r)
    stable = [k for k in before if k in after and before[k] == after[k]]
    compared = 0
    for k in stable:
        t = before[k]
        assert k in by_key, (name, "missing", t)
        r = by_key[k][0]
        if t["proto"] in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
            ip = ipaddress.ip_address
            assert (ip(r["local_addr"]), r["local_port"], ip(r["remote_addr"]), r["remote_port"], r["state"]) == \
                (ip(t["local_addr"]), t["local_port"], ip(t["remote_addr"]), t["remote_port"], t["state"]), (name, r, t)
            if t["state"] == "LISTEN" or t["proto"].startswith(("udp", "raw")):
                assert (r["rx_queue"], r["tx_queue"]) == (t["rx_queue"], t["tx_queue"]), (name, r, t)
        elif t["proto"] == "unix":
            assert r["path"] == t["path"], (name, r, t)
            assert r["type"] == {1: "stream", 2: "dgram", 5: "seqpacket"}[t["type"]], (name, r, t)
            assert (r["state"] == "LISTEN") == bool(t["flags"] & 0x10000), (name, r, t)
        elif t["proto"] == "packet":
            assert (r["protocol"], r["ifindex"]) == (t["protocol"], t["ifindex"]), (name, r, t)
        # Holders: exactly the descriptors /proc shows (when they did not change).
        ino = t["inode"]
        if ino and hold_before.get(ino) == hold_after.get(ino):
            want = hold_before.get(ino, set())
            got = {(x["pid"], x["fd"]) for x in by_key[k] if x["pid"] is not None}
            assert got == want, (name, t, got, want)
            for x in by_key[k]:
                if x["pid"] is not None:
                    assert x["comm"] == comms[x["pid"]], (name, x, comms[x["pid"]])
                else:
                    assert not want, (name, x)
        compared += 1
    # What the test set up, by name.
    def one(proto, port, state, comm=None, local=None):
        m = [r for r in rows if r["proto"] == proto and r["local_port"] == port and r["state"] == state and
             (local is None or r["local_addr"] == local)]
        assert m, (name, proto, port, state, [r for r in rows if r["proto"] == proto])
        if comm:
            assert comm in {r["comm"] for r in m}, (name, m)
        return m
    one("tcp", 18080, "LISTEN", "httpd", "127.0.0.1")
    one("tcp6", 18081, "LISTEN", "httpd", "::1")
    one("tcp6", 19003, "LISTEN", "nc", "::")
    one("tcp6", 19004, "ESTABLISHED", "nc", "::1")
    one("tcp6", 19000, "ESTABLISHED", "nc", "::ffff:127.0.0.1")
    c = [r for r in rows if r["proto"] == "tcp" and r["remote_port"] == 19000 and r["state"] == "ESTABLISHED"]
    assert c and c[0]["comm"] == "nc", (name, "client to 19000", c)
    one("udp", 67, "CLOSE", "udhcpd")
    one("raw", 1, "CLOSE", "ping")
    tw = [r for r in rows if r["state"] == "TIME_WAIT" and 18080 in (r["local_port"], r["remote_port"])]
    assert tw and all(r["pid"] is None and r["inode"] == 0 for r in tw), (name, "TIME_WAIT", tw)
    assert any(r["proto"] == "packet" and r["comm"] == "udhcpc" for r in rows), name
    assert any(r["proto"] == "unix" and r["path"] == "/dev/log" for r in rows), name
    # --pid: that process's sockets only, the same rows.
    nc = next(r["pid"] for r in rows if r["proto"] == "tcp6" and r["local_port"] == 19003)
    mine = ours(ctx, g, "--pid", nc)
    assert mine and all(r["pid"] == nc for r in mine), mine
    assert {(r["inode"], r["fd"]) for r in mine} == {(r["inode"], r["fd"]) for r in rows if r["pid"] == nc}
    # --listening: LISTEN, and datagram sockets not connected.
    lis = ours(ctx, g, "--listening")
    assert lis and all(r["state"] == "LISTEN" or (r["state"] == "CLOSE" and r["type"] != "stream") for r in lis), lis
    assert {r["local_port"] for r in lis if r["proto"].startswith("tcp")} >= {18080, 18081, 19003}
    # The text table: one line per row after the header.
    _, text, _ = ctx.vmsight("-t", g.target, "net", "--pid", nc)
    assert re.search(r"^tcp6\s+LISTEN\s+0\s+0\s+\[::\]:19003\s+\[::\]:\*\s+\d+\s+%d/\d+\s+nc$" % nc, text, re.M), text
    print(f"     ({name}: {len(rows)} rows, {compared} sockets compared with /proc)")


def test_net_equals_proc_small(ctx):
    check_guest(ctx, "small")


def test_net_equals_proc_generic(ctx):
    check_guest(ctx, "generic")


def test_net_bad_pid(ctx):
    g = ctx.guest("small")
    rc, _, err = ctx.vmsight("-t", g.target, "net", "--pid", "999999", check=False)
    assert rc == 1 and "no process 999999" in err, (rc, err)
