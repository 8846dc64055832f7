# Ports on 127.0.0.1 for servers that the tests, the benchmark and the demo start (lighttpd,
# nginx, a cutting relay, QEMU's forwarded ports), and waiting until such a server answers.
# Sourced; nothing here exits.

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

# wait_until SECONDS COMMAND...: runs COMMAND (a function too) every 0.1 s until it succeeds;
# false once SECONDS have passed. Bounds are for a slow machine: a passing run does not wait them.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# wait_server PID URL: until the server PID answers at URL (30 s at most); false if it ended,
# at once (a server that could not bind its port must not pass for one that another answers).
answers_or_ended() { curl -s -o /dev/null "$2" || ! kill -0 "$1" 2>/dev/null; }
wait_server() {
	wait_until 30 answers_or_ended "$1" "$2"
	kill -0 "$1" 2>/dev/null && curl -s -o /dev/null "$2"
}
