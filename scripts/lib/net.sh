# Ports on 127.0.0.1 for servers that the tests, the benchmark and the demo start (lighttpd,
# nginx, a cutting relay, QEMU's forwarded ports). Sourced; nothing here exits.

# free_port: a TCP port on 127.0.0.1 that nothing listens on, below the kernel's range of ports
# for outgoing connections: a port in that range may be taken by some client's socket between
# this check and the server's listen (seen as a relay that never listened, in a busy CI run).
free_port() {
	local port low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	for port in $(shuf -i 10000-$((low - 1)) -n 20); do
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
	done
	echo "free_port: no free port found on 127.0.0.1" >&2
	return 1
}
