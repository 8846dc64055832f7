# Ports on 127.0.0.1 for servers that the tests, the benchmark and the demo start (lighttpd,
# nginx, a cutting relay, QEMU's forwarded ports). Sourced; nothing here exits.

# free_port: a TCP port on 127.0.0.1 that nothing listens on, below the kernel's range of ports
# for outgoing connections: a port in that range may be taken by some client's socket between
# this check and the server's listen (seen as a relay that never listened, in a busy CI run).
free_port() {
	local port low high range
	read -r low high </proc/sys/net/ipv4/ip_local_port_range
	if [ "$low" -gt 11000 ]; then
		range=10000-$((low - 1))
	elif [ "$high" -lt 64000 ]; then
		range=$((high + 1))-65535 # a range widened downwards: above it
	else
		range=20000-60000 # the whole range is the kernel's: a listen may rarely meet a client's port
	fi
	for port in $(shuf -i "$range" -n 20); do
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
	done
	echo "free_port: no free port found on 127.0.0.1" >&2
	return 1
}
